# Shared by scripts/test and scripts/bench (source it, do not run it):
# install what is missing, start a throwaway PostgreSQL cluster and a SoftHSM2
# token directory in a temp dir, and remove everything on exit.
# Expects from the caller: say, die, and $ci (true or false).

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return; }
	done
	if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; fi
}

softhsm_module() {
	local m
	for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
		[ -r "$m" ] && { echo "$m"; return; }
	done
}

# has_package NAME: is what the Debian package NAME provides here?
has_package() {
	case "$1" in
	postgresql) [ -n "$(pg_bindir)" ] ;;
	softhsm2) command -v softhsm2-util >/dev/null && [ -n "$(softhsm_module)" ] ;;
	opensc) command -v pkcs11-tool >/dev/null ;;
	chromium) [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null ;;
	poppler-utils) command -v pdfsig >/dev/null ;;
	libnss3-tools) command -v certutil >/dev/null ;;
	fonts-noto-cjk) ls /usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc >/dev/null 2>&1 ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

# need_packages PKG...: install the missing ones as root, or say exactly what to install.
need_packages() {
	local missing=() p
	for p in "$@"; do has_package "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get -o DPkg::Lock::Timeout=300 update -qq
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	elif $ci || [ "${EIDP_TEST_ALLOW_MISSING:-}" != 1 ]; then
		die "missing: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}  (or set EIDP_TEST_ALLOW_MISSING=1 to run without them)"
	else
		say "WARNING: missing ${missing[*]}; what needs them will be skipped"
	fi
}

services_tmp=$(mktemp -d "${TMPDIR:-/tmp}/eidp-test.XXXXXX")
pg_started=false
pg_bin=""

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_services() {
	local rc=$?
	if $pg_started; then
		as_pg "$pg_bin/pg_ctl" -D "$services_tmp/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$services_tmp"
	exit $rc
}
trap stop_services EXIT
trap 'exit 130' INT TERM

# start_postgres: a cluster on a unix socket only (no port to collide with);
# exports EIDP_TEST_POSTGRES_URL, an admin URL tests create databases with.
start_postgres() {
	pg_bin=$(pg_bindir || true)
	[ -n "$pg_bin" ] || return 0
	local pg="$services_tmp/pg"
	mkdir -p "$pg/sock"
	if [ "$(id -u)" = 0 ]; then
		# initdb refuses to run as root.
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
		chmod 755 "$services_tmp"
		chown -R postgres "$pg"
	fi
	say "starting a throwaway PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') in $pg"
	as_pg "$pg_bin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$pg/initdb.log" 2>&1 \
		|| { cat "$pg/initdb.log"; die "initdb failed"; }
	as_pg "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
		-o "-c listen_addresses='' -k $pg/sock -c max_connections=200 -c shared_buffers=64MB" start >/dev/null \
		|| { cat "$pg/server.log"; die "PostgreSQL did not start"; }
	pg_started=true
	export EIDP_TEST_POSTGRES_URL="postgres://postgres@/postgres?host=$pg/sock&sslmode=disable"
}

# start_softhsm: a token directory; each test process adds its own tokens
# there (SoftHSM reads SOFTHSM2_CONF once per process). Exports
# EIDP_TEST_SOFTHSM_DIR and EIDP_TEST_PKCS11_MODULE.
start_softhsm() {
	local module
	module=$(softhsm_module || true)
	{ [ -n "$module" ] && command -v softhsm2-util >/dev/null; } || return 0
	local dir="$services_tmp/softhsm"
	mkdir -p "$dir/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$dir/softhsm2.conf"
	SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label eidp-smoke --pin 1234 --so-pin 123456 >/dev/null \
		|| die "SoftHSM2 could not initialise a token in $dir"
	say "SoftHSM2 token directory in $dir (module $module)"
	export EIDP_TEST_SOFTHSM_DIR="$dir" EIDP_TEST_PKCS11_MODULE="$module"
}
