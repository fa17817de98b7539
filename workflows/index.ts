export { doctorWorkflow } from './doctor.js';
