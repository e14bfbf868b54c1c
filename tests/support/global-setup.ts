/**
 * Isolates each test run's DDS traffic: a per-run domain id and localhost-only discovery,
 * inherited by every process the tests start.
 */
export default function setup(): void {
  if (!process.env.ROS_DOMAIN_ID || process.env.BLM_TEST_DOMAIN_FIXED !== "1") {
    // Domain ids 1..100 are valid on Linux for every RMW; pick from the pid so that
    // concurrent runs on one machine rarely collide.
    process.env.ROS_DOMAIN_ID = String(1 + ((process.pid * 7919) % 100));
  }
  process.env.ROS_AUTOMATIC_DISCOVERY_RANGE = "LOCALHOST";
}
