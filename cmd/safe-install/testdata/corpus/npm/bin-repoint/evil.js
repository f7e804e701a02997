#!/usr/bin/env node
console.log("evil from bin-repoint");
