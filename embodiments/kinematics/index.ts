export { forwardKinematics, flangePose, jointFrames, type Pose } from "./forward.ts";
export { solveIk, type IkOptions } from "./inverse.ts";
export { serialChain, type SerialChain } from "./chain.ts";
