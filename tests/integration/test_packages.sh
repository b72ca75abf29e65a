#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_packages.sh: the Debian packages, built and installed on this machine as an operator would.
#   - `cpack -G DEB` in a build of the tree configured with -DCMAKE_INSTALL_PREFIX=/usr makes
#     edgecap-agent and edgecap-aggregator; each declares the package of every shared library
#     its binaries need, marks its config a conffile, and its maintainer scripts never enable or
#     start a unit.
#   - Each postinst makes its system user with systemd-sysusers, and with useradd on a host
#     without systemd (both run in a root of their own, DPKG_ROOT).
#   - `dpkg -i` of both: the three programs run `--version` from PATH, the units are in systemd's
#     directory (not enabled, not started) and pass `systemd-analyze verify` as installed, the man
#     pages are found by man, the two system users exist, and the tmpfiles.d snippets make the
#     state directories 0750 for their groups.
#   - An upgrade keeps an edited config.
#   - `dpkg -r` leaves only the configs (dpkg keeps conffiles until purge) and the state the
#     daemons made; `dpkg -P` leaves no file behind: the file system's list of paths is compared
#     with the one taken before the install (the two system users stay, as Debian policy has it).
#   - The packages are removed (purged) whatever happens, even when a check fails.
# It needs root, and a machine where neither package is installed and /var/lib/edgecap and
# /var/lib/edgecap-agent do not exist (the purge removes them); it refuses to run otherwise.
# EC_PKG_BUILD_DIR names an existing /usr-prefixed build directory to package instead of
# configuring and building one (about a minute on two cores).
. "$(dirname "$0")/lib.sh"

require_tools cmake cpack dpkg dpkg-deb dpkg-query dpkg-shlibdeps readelf ldd man systemd-analyze \
	systemd-tmpfiles
# The project's version (CMakeLists.txt), as --version must print it.
EC_VERSION=${EC_VERSION:-$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$EC_BUILD_DIR/CMakeCache.txt")}
[ -n "$EC_VERSION" ] || fail "no CMAKE_PROJECT_VERSION in $EC_BUILD_DIR/CMakeCache.txt"

PKGS=(edgecap-agent edgecap-aggregator)
STATE_DIRS=(/var/lib/edgecap-agent /var/lib/edgecap /run/edgecap /run/edgecap-aggregator)
# What the packages may touch, and nothing volatile: other processes write beneath the pruned
# trees (and dpkg its own database), never our files.
SNAPSHOT_PRUNE=(/proc /sys /dev /run /tmp /var/tmp /var/cache /var/log /var/lib/dpkg /var/lib/apt
	/var/lib/systemd/deb-systemd-helper-masked /root /home /work /srv "$EC_TMPDIR")
# Made when the users are (systemd-sysusers, useradd): backups and locks of the user database.
USERDB_FILES='^/etc/(passwd|group|shadow|gshadow)-$|^/etc/\.pwd\.lock$'
STD_PATH=/usr/sbin:/usr/bin:/sbin:/bin

# snapshot FILE: every path on the root file system but the pruned trees, sorted.
snapshot() {
	local args=() p
	for p in "${SNAPSHOT_PRUNE[@]}"; do
		args+=(-path "$p" -o)
	done
	find / -xdev \( "${args[@]}" -false \) -prune -o -print | LC_ALL=C sort >"$1"
}

# new_paths BEFORE AFTER: the paths in AFTER that BEFORE lacks, but the user database's backups.
new_paths() {
	LC_ALL=C comm -13 "$1" "$2" | grep -Ev "$USERDB_FILES" || true
}

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# The packages go, whatever happened; dpkg -P on one that is not there does nothing.
purge_packages() {
	dpkg -P "${PKGS[@]}" >/dev/null 2>&1 || true
}

# build_packages: sets DEB_AGENT and DEB_AGGREGATOR (and PKG_BUILD, the build directory).
build_packages() {
	local out=$EC_TMPDIR/build.out
	PKG_BUILD=${EC_PKG_BUILD_DIR:-$EC_TMPDIR/pkgbuild}
	if [ -z "${EC_PKG_BUILD_DIR:-}" ]; then
		cmake -S "$EC_SRC_DIR" -B "$PKG_BUILD" -DCMAKE_INSTALL_PREFIX=/usr \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >"$out" 2>&1 ||
			fail "configure: $(tail -n 20 "$out")"
		nice cmake --build "$PKG_BUILD" -j"$(nproc)" >"$out" 2>&1 ||
			fail "build: $(tail -n 20 "$out")"
	fi
	(cd "$PKG_BUILD" && cpack -G DEB -B "$PKG_BUILD/debs") >"$out" 2>&1 ||
		fail "cpack -G DEB: $(tail -n 20 "$out")"
	DEB_AGENT=$PKG_BUILD/debs/edgecap-agent_${EC_VERSION}_$(dpkg --print-architecture).deb
	DEB_AGGREGATOR=${DEB_AGENT/edgecap-agent_/edgecap-aggregator_}
	[ -f "$DEB_AGENT" ] && [ -f "$DEB_AGGREGATOR" ] ||
		fail "cpack made no $DEB_AGENT and $DEB_AGGREGATOR: $(ls "$PKG_BUILD/debs")"
}

# deb_field DEB FIELD
deb_field() {
	dpkg-deb -f "$1" "$2"
}

# check_depends DEB BINARY...: every library a BINARY links (its NEEDED entries) belongs to a
# package that DEB's Depends names.
check_depends() {
	local deb=$1 bin lib path owner depends
	shift
	depends=" $(deb_field "$deb" Depends | tr ',|' '  ') "
	for bin in "$@"; do
		for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
			[ -n "$path" ] || fail "ldd finds no $lib for $bin"
			owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null ||
				dpkg -S "/usr$path" 2>/dev/null) || fail "no package owns $path"
			owner=${owner%%:*}
			[[ $depends == *" $owner "* ]] ||
				fail "${deb##*/}: $bin needs $lib ($owner), not in Depends: $depends"
		done
	done
}

# not_running EXE: no process runs EXE.
not_running() {
	local e
	for e in /proc/[0-9]*/exe; do
		[ "$(readlink "$e" 2>/dev/null)" != "$1" ] || return 1
	done
	return 0
}

# The packages' metadata, before anything is installed.
test_deb_metadata() {
	local deb ctl s
	build_packages
	expect_eq "$(deb_field "$DEB_AGENT" Package)" edgecap-agent "the agent's package name"
	expect_eq "$(deb_field "$DEB_AGGREGATOR" Package)" edgecap-aggregator \
		"the aggregator's package name"
	# Each package has its own programs.
	dpkg-deb -c "$DEB_AGENT" >"$EC_TMPDIR/agent.list"
	dpkg-deb -c "$DEB_AGGREGATOR" >"$EC_TMPDIR/aggregator.list"
	grep -q ' \./usr/sbin/edgecap-agent$' "$EC_TMPDIR/agent.list" || fail "agent: no binary"
	grep -q ' \./usr/bin/edgecapctl$' "$EC_TMPDIR/agent.list" || fail "agent: no edgecapctl"
	grep -q ' \./usr/sbin/edgecap-aggregator$' "$EC_TMPDIR/aggregator.list" ||
		fail "aggregator: no binary"
	! grep 'edgecap-agent\|edgecapctl' "$EC_TMPDIR/aggregator.list" ||
		fail "the aggregator's package holds the agent's files"
	! grep 'edgecap-aggregator' "$EC_TMPDIR/agent.list" ||
		fail "the agent's package holds the aggregator's files"
	check_depends "$DEB_AGENT" "$PKG_BUILD/agent/edgecap-agent" "$PKG_BUILD/ctl/edgecapctl"
	check_depends "$DEB_AGGREGATOR" "$PKG_BUILD/aggregator/edgecap-aggregator"
	for deb in "$DEB_AGENT" "$DEB_AGGREGATOR"; do
		ctl=$EC_TMPDIR/control-${deb##*/}
		dpkg-deb -e "$deb" "$ctl"
		[ "$(cat "$ctl/conffiles")" = "/etc/edgecap/$(sed 's/.*edgecap-\([a-z]*\)_.*/\1/' \
			<<<"${deb##*/}").conf" ] || fail "${deb##*/}: conffiles: $(cat "$ctl/conffiles")"
		# Installed, not enabled or started: no maintainer script starts or enables a unit.
		for s in postinst prerm postrm; do
			[ -x "$ctl/$s" ] || fail "${deb##*/}: no executable $s"
			sh -n "$ctl/$s" || fail "${deb##*/}: $s is not valid sh"
			! grep -Ev '^[[:space:]]*#' "$ctl/$s" |
				grep -E 'systemctl.*(start|enable)|deb-systemd-(invoke|helper)' ||
				fail "${deb##*/}: $s starts or enables a unit"
		done
	done
}

# The postinst makes its user with systemd-sysusers, or with useradd where there is no systemd:
# run in a root of its own (DPKG_ROOT, as `dpkg --root` sets it) holding the package's files.
test_postinst_makes_the_user() {
	local deb user home root bin out=$EC_TMPDIR/postinst.out t
	require_root
	require_tools systemd-sysusers useradd
	build_packages
	for deb in "$DEB_AGENT" "$DEB_AGGREGATOR"; do
		case $deb in
		*/edgecap-agent_*) user=edgecap home=/var/lib/edgecap-agent ;;
		*) user=edgecap-aggregator home=/var/lib/edgecap ;;
		esac
		for t in sysusers useradd; do
			root=$EC_TMPDIR/root-$t-$user
			mkdir -p "$root/etc" "$root/DEBIAN"
			echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
			echo 'root:x:0:' >"$root/etc/group"
			echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
			echo 'root:*::' >"$root/etc/gshadow"
			dpkg-deb -x "$deb" "$root"
			dpkg-deb -e "$deb" "$root/DEBIAN"
			bin=$STD_PATH
			if [ "$t" = useradd ]; then
				# A host without systemd: only what a minimal Debian has on PATH.
				bin=$EC_TMPDIR/bin-$user
				mkdir -p "$bin"
				for tool in sh grep useradd getent; do
					ln -sf "$(command -v "$tool")" "$bin/$tool"
				done
			fi
			DPKG_ROOT=$root PATH=$bin "$root/DEBIAN/postinst" configure >"$out" 2>&1 ||
				fail "${deb##*/} postinst ($t): $(cat "$out")"
			grep -q "^$user:x:[0-9]*:[0-9]*:[^:]*:$home:/usr/sbin/nologin$" \
				"$root/etc/passwd" ||
				fail "${deb##*/} postinst ($t) made no user $user: $(cat "$root/etc/passwd")"
			grep -q "^$user:x:[0-9]*:$" "$root/etc/group" ||
				fail "${deb##*/} postinst ($t) made no group $user"
			# Run again (a reinstall): nothing changes, nothing fails.
			cp "$root/etc/passwd" "$EC_TMPDIR/passwd.before"
			DPKG_ROOT=$root PATH=$bin "$root/DEBIAN/postinst" configure >"$out" 2>&1 ||
				fail "${deb##*/} postinst ($t), again: $(cat "$out")"
			cmp -s "$root/etc/passwd" "$EC_TMPDIR/passwd.before" ||
				fail "${deb##*/} postinst ($t), again, changed the users"
		done
	done
}

test_install_run_upgrade_remove() {
	local before=$EC_TMPDIR/before after=$EC_TMPDIR/after out=$EC_TMPDIR/dpkg.out
	local p u unit left exp bin
	require_root
	for p in "${PKGS[@]}"; do
		! installed "$p" || fail "$p is installed already: this test installs and purges it"
	done
	for p in /var/lib/edgecap-agent /var/lib/edgecap; do
		[ ! -e "$p" ] || fail "$p exists: the packages' purge would remove it; move it first"
	done
	build_packages
	# The same packages, one version up, for the upgrade.
	(cd "$PKG_BUILD" && cpack -G DEB -B "$PKG_BUILD/debs-next" \
		-D CPACK_PACKAGE_VERSION="$EC_VERSION.1") >"$out" 2>&1 || fail "cpack: $(cat "$out")"
	snapshot "$before"
	trap 'purge_packages; ns_cleanup' EXIT

	dpkg -i "$DEB_AGENT" "$DEB_AGGREGATOR" >"$out" 2>&1 || fail "dpkg -i: $(cat "$out")"
	for p in "${PKGS[@]}"; do
		installed "$p" || fail "$p is not installed after dpkg -i: $(cat "$out")"
	done

	# The programs, from PATH.
	for exp in sbin/edgecap-agent sbin/edgecap-aggregator bin/edgecapctl; do
		bin=${exp#*/}
		expect_eq "$(PATH=$STD_PATH command -v "$bin")" "/usr/$exp" "$bin on PATH"
		expect_eq "$(PATH=$STD_PATH "$bin" --version)" "$bin edgecap $EC_VERSION" \
			"$bin --version"
	done

	# The units: where systemd looks, naming the installed paths, valid, neither enabled nor
	# started.
	for u in agent aggregator; do
		unit=$(dpkg -L "edgecap-$u" | grep "/systemd/system/edgecap-$u.service$") ||
			fail "edgecap-$u ships no unit: $(dpkg -L "edgecap-$u")"
		expect_eq "$unit" "$(pkg-config --variable=systemdsystemunitdir systemd)/edgecap-$u.service" \
			"the unit's path"
		grep -qx "ExecStart=/usr/sbin/edgecap-$u --config /etc/edgecap/$u.conf" "$unit" ||
			fail "$unit: $(grep ^ExecStart= "$unit")"
		[ -f "/etc/edgecap/$u.conf" ] || fail "no /etc/edgecap/$u.conf"
		! ls /etc/systemd/system/*.wants/"edgecap-$u.service" >/dev/null 2>&1 ||
			fail "edgecap-$u.service was enabled"
		not_running "/usr/sbin/edgecap-$u" || fail "edgecap-$u was started"
		getent passwd "$([ $u = agent ] && echo edgecap || echo edgecap-aggregator)" \
			>/dev/null || fail "no system user for edgecap-$u"
	done
	systemd-analyze verify /lib/systemd/system/edgecap-agent.service \
		/lib/systemd/system/edgecap-aggregator.service >"$out" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$out")"
	[ ! -s "$out" ] || fail "systemd-analyze verify complained: $(cat "$out")"
	expect_eq "$(getent passwd edgecap | cut -d: -f6,7)" /var/lib/edgecap-agent:/usr/sbin/nologin \
		"edgecap's home and shell"
	expect_eq "$(getent passwd edgecap-aggregator | cut -d: -f6,7)" \
		/var/lib/edgecap:/usr/sbin/nologin "edgecap-aggregator's home and shell"

	# The man pages, as man finds them.
	for p in 1:edgecapctl 8:edgecap-agent 8:edgecap-aggregator; do
		expect_eq "$(man -w "${p%%:*}" "${p#*:}" 2>&1)" \
			"/usr/share/man/man${p%%:*}/${p#*:}.${p%%:*}.gz" "man -w ${p/:/ }"
		MANWIDTH=80 man -P cat "${p%%:*}" "${p#*:}" 2>/dev/null | grep -q "^NAME" ||
			fail "man ${p/:/ } renders no NAME section"
	done

	# The tmpfiles.d snippets: the state directories, 0750 for their users' groups.
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/edgecap-agent.conf \
		/usr/lib/tmpfiles.d/edgecap-aggregator.conf >"$out" 2>&1 ||
		fail "systemd-tmpfiles: $(cat "$out")"
	expect_eq "$(stat -c '%a %U %G' /var/lib/edgecap-agent/captures)" "750 edgecap edgecap" \
		"the agent's output directory"
	expect_eq "$(stat -c '%a %U %G' /var/lib/edgecap/destinations)" \
		"750 edgecap-aggregator edgecap-aggregator" "the aggregator's destination root"

	# An upgrade keeps the operator's edits to the configs.
	echo "# edited by test_packages" >>/etc/edgecap/agent.conf
	echo "# edited by test_packages" >>/etc/edgecap/aggregator.conf
	dpkg -i --force-confdef --force-confold "$PKG_BUILD"/debs-next/*.deb </dev/null >"$out" 2>&1 ||
		fail "dpkg -i (upgrade): $(cat "$out")"
	expect_eq "$(dpkg-query -W -f='${Version}' edgecap-agent)" "$EC_VERSION.1" \
		"the agent's version after the upgrade"
	for u in agent aggregator; do
		tail -n 1 "/etc/edgecap/$u.conf" | grep -qx "# edited by test_packages" ||
			fail "the upgrade replaced the edited /etc/edgecap/$u.conf"
	done

	# dpkg -r: the programs, units, snippets and man pages go; the configs (conffiles, until
	# purge) and the state stay.
	dpkg -r "${PKGS[@]}" >"$out" 2>&1 || fail "dpkg -r: $(cat "$out")"
	[ -z "$(PATH=$STD_PATH command -v edgecap-agent edgecap-aggregator edgecapctl)" ] ||
		fail "a program is still on PATH after dpkg -r"
	snapshot "$after"
	left=$(new_paths "$before" "$after" | grep -Ev '^/etc/edgecap(/(agent|aggregator)\.conf)?$|^/var/lib/edgecap(-agent)?(/|$)' || true)
	[ -z "$left" ] || fail "dpkg -r left behind: $left"

	# dpkg -P: nothing at all.
	dpkg -P "${PKGS[@]}" >"$out" 2>&1 || fail "dpkg -P: $(cat "$out")"
	snapshot "$after"
	left=$(new_paths "$before" "$after")
	[ -z "$left" ] || fail "dpkg -P left behind: $left"
	for p in "${STATE_DIRS[@]}"; do
		[ ! -e "$p" ] || fail "dpkg -P left $p"
	done
	for p in "${PKGS[@]}"; do
		[ -z "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" ] ||
			[ "$(dpkg-query -W -f='${db:Status-Status}' "$p")" = not-installed ] ||
			fail "$p is still known to dpkg: $(dpkg-query -W -f='${db:Status-Status}' "$p")"
	done
}

for t in test_deb_metadata test_postinst_makes_the_user test_install_run_upgrade_remove; do
	run_test "$t"
done
summary
