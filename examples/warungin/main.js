// The program of this project folder is the root's: it runs with this folder as the working
// directory, which is what relative paths in the stack config resolve against.
"use strict";
module.exports = require("../../main.js");
