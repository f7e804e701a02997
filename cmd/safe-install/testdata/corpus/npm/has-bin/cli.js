#!/usr/bin/env node
console.log("has-bin ok");
