import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The integration files mostly wait on the network and on their own
    // node: more of them at once than there are cores keeps the run short.
    maxWorkers: 4,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Builds the node's binary once for every integration file.
          globalSetup: ["test/integration/setup.ts"],
          testTimeout: 20_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
