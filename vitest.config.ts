import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/unit/**/*.test.ts", "tests/integration/**/*.test.ts", "**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", ".ros/**"],
    globalSetup: ["tests/support/global-setup.ts"],
    // Integration tests start ROS processes; running them one file at a time keeps
    // DDS discovery and the two cores from being oversubscribed.
    pool: "forks",
    poolOptions: { forks: { singleFork: false, maxForks: 2 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
