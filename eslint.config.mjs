import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".local/",
      ".pulumi-state/",
      "sample-app/dist/",
      "examples/*/app/dist/",
      "examples/*/.pulumi-state/",
      "examples/*/reports/",
      "bin/",
      "reports/",
      "test-output/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // main.js, the entry point Pulumi runs, is CommonJS for Node itself.
    files: ["main.js", "examples/*/main.js"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", __dirname: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // The layer rule: config/ and engines/ are Pulumi-free (serialized into dynamic providers, used
    // by deploy/, tested without mocks); engines/ also never reaches up into the Pulumi layers.
    files: ["config/**/*.ts", "engines/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@pulumi/*"],
              message: "config/ and engines/ are Pulumi-free; Pulumi code goes in components/ or rollout/.",
            },
            {
              group: [
                "**/components",
                "**/components/*",
                "**/rollout",
                "**/rollout/*",
                "**/deploy",
                "**/deploy/*",
              ],
              message: "config/ and engines/ must not import the layers above them.",
            },
          ],
        },
      ],
    },
  },
  {
    // Components are thin Pulumi wrappers over engines: they never reach up into the graph or deploy/.
    files: ["components/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/rollout", "**/rollout/*", "**/deploy", "**/deploy/*"],
              message: "components/ must not import rollout/ or deploy/.",
            },
          ],
        },
      ],
    },
  },
);
