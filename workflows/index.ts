export { doctorWorkflow } from './doctor.js';
export { rotationWorkflow } from './rotation.js';
