export { toUrdf } from "./urdf.ts";
export { toMjcf } from "./mjcf.ts";
export { buildTree, type RobotTree, type BodySpec, type JointSpec } from "./tree.ts";
