#!/usr/bin/env node
console.log("evil from zbin-contest");
