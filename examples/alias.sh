# Route npm and pnpm installs through safe-install. Source this from ~/.bashrc or
# ~/.zshrc; fish users: see the last lines.
#
# safe-install wraps every npm command that installs, and so can run
# install scripts: ci, install, update, uninstall, rebuild, dedupe, prune,
# install-test and install-ci-test, in all of npm's spellings. Everything
# else (npm run, npm test, npm publish) goes to npm. npm exec and npx run a
# package's code by design, which no install sandbox can make safe: they
# stay npm's (the README says what to use instead).
npm() {
	case "$1" in
	ci | clean-install | ic | install-clean | isntall-clean | \
		install | i | in | ins | inst | insta | instal | isnt | isnta | isntal | isntall | add | \
		install-test | it | install-ci-test | cit | clean-install-test | sit | \
		update | u | up | upgrade | udpate | \
		uninstall | unlink | remove | rm | r | un | \
		rebuild | rb | dedupe | ddp | prune)
		safe-install npm "$@" ;;
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
#           case ci clean-install ic install-clean isntall-clean install i in ins inst insta instal isnt isnta isntal isntall add install-test it install-ci-test cit clean-install-test sit update u up upgrade udpate uninstall unlink remove rm r un rebuild rb dedupe ddp prune
#               safe-install npm $argv
#           case '*'
#               command npm $argv
#       end
#   end
