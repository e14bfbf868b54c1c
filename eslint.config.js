import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".ros/", "**/*.d.ts", "models/**/*.py", "sim/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    // The embodiment layer and the model runtime are pure: testable without ROS, usable
    // from any transport. Only nodes/ talks to rclnodejs.
    files: ["embodiments/**/*.ts", "models/**/*.ts", "lib/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "rclnodejs", message: "Keep ROS out of the pure layers; wrap it in nodes/." },
          ],
        },
      ],
    },
  },
);
