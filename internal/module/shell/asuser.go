package shell

// AsUser returns one sh command, a subshell with no newline after it (so
// that redirections after it apply to it whole), that runs script with /bin/sh as user, from the root
// shell skiff's scripts run in: `sudo -n -H -u USER`, which asks root for
// no password. The script reaches that shell on its stdin (printf is a
// shell builtin: the script, secrets included, is in no process's argv),
// so it must give any command it runs another stdin. The exit status is
// the script's, or sudo's when sudo could not start it (1: an unknown
// user, say). The shell starts in the user's home ("/" when it has none).
func AsUser(user, script string) string {
	script = "cd \"$HOME\" 2>/dev/null || cd /\n" + script
	return "( printf '%s\\n' " + Quote(script) + " | sudo -n -H -u " + Quote(user) + " -- /bin/sh -s )"
}
