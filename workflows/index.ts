export { doctorWorkflow } from './doctor.js';
export { rotationWorkflow } from './rotation.js';
export { scheduledRotationWorkflow } from './scheduled-rotation.js';
export { revocationWorkflow } from './revocation.js';
export { policyChangeWorkflow } from './policy-change.js';
