#!/usr/bin/env node
// The blm-agent executable: runs nodes/main.ts through tsx's loader (no build step).
// Needs the ROS environment (scripts/with-env.sh, or a sourced ROS with .ros/install).
import { register } from "tsx/esm/api";

register();
await import("../nodes/main.ts");
