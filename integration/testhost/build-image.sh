#!/usr/bin/env bash
# Usage: build-image.sh [SUITE]   (SUITE: a Debian codename, bookworm if omitted)
#
# Builds the Docker image skiff-testhost:SUITE-HASH, a Debian SUITE host with
# systemd as PID 1, sshd, sudo and a user "deploy", without any image registry
# (debootstrap from the machine's own Debian mirror, then docker import). HASH
# is the first 12 hex digits of this script's sha256, so editing the recipe is
# what triggers a rebuild.
#
# Contract: progress goes to stderr; the last line of stdout is the tag.
# Idempotent and safe to run concurrently (a lock serialises builds).
set -euo pipefail

SUITE="${1:-bookworm}"
[[ $SUITE =~ ^[a-z]+$ ]] || { echo "build-image: suite $SUITE: want a Debian codename (e.g. bookworm, trixie)" >&2; exit 2; }
SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
TAG="${SUITE}-$(sha256sum "$SCRIPT" | cut -c1-12)"
IMAGE="skiff-testhost:${TAG}"
SOURCES=/etc/apt/sources.list.d/debian.sources

log() { echo "build-image: [${SECONDS}s] $*" >&2; }

image_exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

if image_exists; then
	echo "$TAG"
	exit 0
fi

# Parallel test packages may all ask for the image at once: one builds,
# the others wait and then find it.
exec 9>"/tmp/skiff-testhost-build.lock"
flock 9
if image_exists; then
	echo "$TAG"
	exit 0
fi

[[ $(id -u) -eq 0 ]] || { log "must run as root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap is not installed"; exit 1; }

# The mirror is the machine's own: first URI of the first stanza.
MIRROR="$(awk '/^[[:space:]]*$/ { if (n) exit; next } { n++ } /^URIs:/ { print $2; exit }' "$SOURCES" 2>/dev/null || true)"
[[ -n $MIRROR ]] || { log "no URIs field in $SOURCES"; exit 1; }

# remove_tree unmounts whatever is mounted below $1 (deepest first), then
# removes it without ever crossing into another filesystem.
remove_tree() {
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v r="$1/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	rm -rf --one-file-system "$1"
}

# A build killed outright leaves its work folder; holding the lock, no other
# build is using one.
for stale in "${TMPDIR:-/var/tmp}"/skiff-testhost.*; do
	if [[ -d $stale ]]; then remove_tree "$stale"; fi
done

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/skiff-testhost.XXXXXX")"
ROOTFS="$WORK/rootfs"
BUILDLOG="$WORK/build.log"

cleanup() {
	local rc=$?
	if [[ $rc -ne 0 && -s $BUILDLOG ]]; then
		log "failed; last lines of $BUILDLOG:"
		tail -n 40 "$BUILDLOG" >&2 || true
	fi
	remove_tree "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

# debootstrap needs a script named after the suite: bookworm's package has
# trixie's (Debian's releases share one script), and the mirror serves
# every current release.
log "debootstrap $SUITE from $MIRROR (1-4 min)"
debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,dbus,openssh-server,iproute2,sudo,ca-certificates,python3,curl,procps,less,iptables,kmod,netcat-openbsd,openssl \
	"$SUITE" "$ROOTFS" "$MIRROR" >>"$BUILDLOG" 2>&1

# apt must keep what it downloads: the cached .debs are the point of the image.
rm -f "$ROOTFS/etc/apt/apt.conf.d/docker-clean"
cat >"$ROOTFS/etc/apt/apt.conf.d/90skiff-keep-debs" <<'EOF'
// Test hosts install packages from the .debs cached in the image.
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
EOF

# The image's suite, main only: where the cached .debs come from.
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
EOF

cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
log "caching haproxy nginx mariadb ufw .debs"
# Drop debootstrap's own .debs (already installed) so the cache holds only
# what a test may install.
in_root apt-get clean
in_root apt-get update >>"$BUILDLOG" 2>&1
in_root apt-get install -y --download-only --no-install-recommends \
	haproxy nginx mariadb-server mariadb-client ufw python3-pymysql python3-apt >>"$BUILDLOG" 2>&1
# Docker bind-mounts its own resolv.conf at run time.
: >"$ROOTFS/etc/resolv.conf"

# Empty machine-id: systemd makes a fresh one per container at boot,
# without first-boot semantics.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"

# The deploy user: key login, passwordless sudo. "*" (not "!") leaves the
# account unlocked for public-key login.
in_root useradd --create-home --shell /bin/bash deploy
in_root usermod --password '*' deploy
printf 'deploy ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$ROOTFS/etc/sudoers.d/deploy"
chmod 0440 "$ROOTFS/etc/sudoers.d/deploy"
install -d -m 0700 "$ROOTFS/root/.ssh"
install -d -m 0700 -o "$(stat -c %u "$ROOTFS/home/deploy")" -g "$(stat -c %g "$ROOTFS/home/deploy")" "$ROOTFS/home/deploy/.ssh"

# Every container makes its own host keys before sshd starts: Debian's
# ssh.service runs "sshd -t" first, which fails without keys.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
cat >"$ROOTFS/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate missing SSH host keys
Before=ssh.service

[Service]
Type=oneshot
# Creates only the keys that are missing, so it is safe on every boot.
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
install -d "$ROOTFS/etc/systemd/system/ssh.service.d"
cat >"$ROOTFS/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'EOF'
[Unit]
Requires=ssh-hostkeys.service
After=ssh-hostkeys.service
EOF
in_root systemctl enable ssh ssh-hostkeys.service >>"$BUILDLOG" 2>&1

# No gettys in a container; no background apt runs that would reach the
# network or hold the dpkg lock while a test installs packages.
in_root systemctl mask getty.target console-getty.service \
	apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service >>"$BUILDLOG" 2>&1

log "importing $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . |
	docker import \
		-c 'CMD ["/sbin/init"]' \
		-c 'ENV container=docker' \
		- "$IMAGE" >>"$BUILDLOG" 2>&1

log "built $IMAGE"

# Older recipes' images of this suite only take disk (tags without a suite
# are bookworm's, from before the suite was part of the tag); an image still
# used by a container is refused by docker and stays.
old_images() {
	docker image ls --format '{{.Repository}}:{{.Tag}}' "skiff-testhost" | grep -vx "$IMAGE" |
		{ if [[ $SUITE == bookworm ]]; then grep -E ":(bookworm-)?[0-9a-f]{12}\$"; else grep -E ":${SUITE}-[0-9a-f]{12}\$"; fi; }
}
old_images | xargs -r docker image rm >/dev/null 2>&1 || true

echo "$TAG"
