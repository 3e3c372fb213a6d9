// Pulumi runs a project's entry point from the folder that holds it, so this folder is the project
// directory of the program (index.ts reads it from process.cwd()); the program is the repository's
// own, built and loaded by the repository's main.js.
"use strict";
module.exports = require("../../main.js");
