# Route npm and pnpm installs through safe-install. Source this from ~/.bashrc or
# ~/.zshrc; fish users: see the last lines.
#
# safe-install wraps installs only: `npm ci`, `npm install`, `npm i`,
# `npm add`. Everything else (npm run, npm test, npm publish) goes to npm.
npm() {
	case "$1" in
	ci | clean-install | install | i | add) safe-install npm "$@" ;;
	*) command npm "$@" ;;
	esac
}
# pnpm: `pnpm install` and `pnpm i` (safe-install wraps no other pnpm
# command yet; pnpm add goes to pnpm).
pnpm() {
	case "$1" in
	install | i) safe-install pnpm "$@" ;;
	*) command pnpm "$@" ;;
	esac
}
# fish:
#   function npm
#       switch $argv[1]
#           case ci clean-install install i add
#               safe-install npm $argv
#           case '*'
#               command npm $argv
#       end
#   end
