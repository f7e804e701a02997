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
# pnpm: every pnpm command that installs, and so could run dependency
# builds: install, add, remove, update and rebuild, in pnpm's spellings.
# pnpm exec and pnpm dlx run a package's code by design: they stay pnpm's.
pnpm() {
	case "$1" in
	install | i | add | remove | rm | uninstall | un | uni | update | up | upgrade | rebuild | rb)
		safe-install pnpm "$@" ;;
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
#   function pnpm
#       switch $argv[1]
#           case install i add remove rm uninstall un uni update up upgrade rebuild rb
#               safe-install pnpm $argv
#           case '*'
#               command pnpm $argv
#       end
#   end
