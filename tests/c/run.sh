#!/usr/bin/env bash
# The C ABI's tests: header freshness and self-sufficiency, exported symbols, the C test
# programs (plain, statically linked, under ASan+UBSan and under valgrind) and the C example.
#
#   tests/c/run.sh
#
# Installs what it needs when missing: cbindgen (pinned, with cargo), valgrind, gcc, g++ and
# libcjson-dev (golden.c reads the golden vectors with cJSON) (with apt-get). Respects
# CARGO_TARGET_DIR (default: target/ at the repository root). Exits non-zero on any failure;
# its last line is "C tests: ...".
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

CBINDGEN_VERSION=0.29.4
target="${CARGO_TARGET_DIR:-$root/target}"
lib="$target/debug"
out="$target/c-tests"
mkdir -p "$out"

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
apt_install() {
  $sudo apt-get install -y "$@" >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}

step "tools"
command -v gcc >/dev/null || apt_install gcc
command -v g++ >/dev/null || apt_install g++
command -v valgrind >/dev/null || apt_install valgrind
# golden.c reads tests/vectors/golden.json with cJSON (<cjson/cJSON.h>, -lcjson).
has_cjson() {
  printf '#include <cjson/cJSON.h>\nint main(void) { cJSON_Delete(0); return 0; }\n' |
    gcc -x c - -lcjson -o /dev/null 2>/dev/null
}
has_cjson || apt_install libcjson-dev
has_cjson || fail "cannot build against cJSON (libcjson-dev)"
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked
fi
echo "$(gcc --version | head -n 1); $(valgrind --version); $(cbindgen --version); cJSON $(dpkg-query -W -f '${Version}' libcjson-dev 2>/dev/null || echo '?')"

step "cargo build -p tessera-ffi"
cargo build -p tessera-ffi
[ -f "$lib/libtessera.so" ] && [ -f "$lib/libtessera.a" ] || fail "no libtessera.so / libtessera.a in $lib"

step "include/tessera.h is what cbindgen generates"
fresh="$out/tessera.h"
cbindgen --config ffi/cbindgen.toml --crate tessera-ffi --output "$fresh" ffi 2>/dev/null
if ! diff -u include/tessera.h "$fresh"; then
  fail "include/tessera.h is stale: regenerate it with
  cbindgen --config ffi/cbindgen.toml --crate tessera-ffi --output include/tessera.h ffi"
fi

step "the header compiles on its own as C99 and as C++"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/tessera.h
g++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ include/tessera.h

step "every function, status and constant in the header is documented"
undocumented=$(awk '
  (/^[a-z].*[ *]tessera_[a-z0-9_]+\(/ || /^ +TESSERA_[A-Z0-9_]+ = / || /^#define TESSERA_[A-Z0-9_]+ /) && prev !~ /\*\/ *$/ { print }
  { if ($0 !~ /^ *$/) prev = $0 }' include/tessera.h)
[ -z "$undocumented" ] || fail "without a doc comment in include/tessera.h:
$undocumented"

step "exported symbols = the header's functions"
grep -E '^[a-z_]' include/tessera.h | grep -oE '\btessera_[a-z0-9_]+\(' | tr -d '(' | sort -u >"$out/header.txt"
nm -D --defined-only "$lib/libtessera.so" | awk '$2 == "T" && $3 ~ /^tessera_/ { print $3 }' | sort -u >"$out/exported.txt"
if ! diff -u "$out/header.txt" "$out/exported.txt"; then
  fail "the library exports other tessera_* functions than the header declares"
fi
functions=$(wc -l <"$out/header.txt")
echo "$functions functions"

step "every function is used by a C test program"
unused=""
for f in $(cat "$out/header.txt"); do
  grep -qw "$f" tests/c/*.c || unused="$unused $f"
done
[ -z "$unused" ] || fail "not used by any test in tests/c:$unused"

programs=(api bad_input threads golden)
# Libraries a program needs besides libtessera.
declare -A libs=([golden]=-lcjson)
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -pthread -Iinclude -Itests/c)
dynamic=(-L"$lib" -ltessera -Wl,-rpath,"$lib")
static=("$lib/libtessera.a" -lpthread -ldl -lm)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
valgrind=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible
  --errors-for-leak-kinds=definite,indirect,possible --suppressions=tests/c/valgrind.supp)

checks=0
runs=0
cases=""
golden=""
# run LABEL COMMAND...: runs a test program, shows its output, adds up its checks.
run() {
  local label=$1 log="$out/$1.log"
  shift
  echo "\$ $*"
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    fail "$label"
  fi
  grep -vE '^==[0-9]+== ' "$log" || true
  local passed
  passed=$(grep -Eo '[0-9]+ checks passed' "$log" | awk '{ s += $1 } END { print s + 0 }')
  checks=$((checks + passed))
  runs=$((runs + 1))
  if [ -z "$cases" ]; then
    cases=$(grep -Eo 'bad-input matrix: [0-9]+ cases' "$log" | grep -Eo '[0-9]+' || true)
  fi
  if [ -z "$golden" ]; then
    golden=$(grep -Eo '^golden: [0-9]+ tokens, [0-9]+ headers, [0-9]+ expiry cases' "$log" |
      sed 's/^golden: //' || true)
  fi
}

step "C tests, linked with libtessera.so"
for p in "${programs[@]}"; do
  gcc "${cflags[@]}" "tests/c/$p.c" -o "$out/$p" "${dynamic[@]}" ${libs[$p]:-}
  run "$p" "$out/$p"
done

step "C tests, linked with libtessera.a"
gcc "${cflags[@]}" tests/c/api.c -o "$out/api-static" "${static[@]}"
run api-static "$out/api-static"

step "C tests under ASan + UBSan"
for p in "${programs[@]}"; do
  gcc "${cflags[@]}" "${sanitize[@]}" "tests/c/$p.c" -o "$out/$p-asan" "${dynamic[@]}" ${libs[$p]:-}
  nm "$out/$p-asan" >"$out/$p-asan.nm"
  grep -q __asan_init "$out/$p-asan.nm" || fail "$p-asan is not instrumented"
  run "$p-asan" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/$p-asan"
done

step "C tests under valgrind"
summaries=()
for p in "${programs[@]}"; do
  run "$p-valgrind" "${valgrind[@]}" "$out/$p"
  log="$out/$p-valgrind.log"
  grep -qE '^==[0-9]+== ERROR SUMMARY: 0 errors' "$log" || fail "valgrind found errors in $p"
  # Every process's leak summary (a forked child's too) must say 0 bytes lost.
  lost=$(awk '/(definitely|indirectly|possibly) lost:/ && !/lost: 0 bytes/' "$log")
  [ -z "$lost" ] || fail "valgrind: $p lost memory: $lost"
  summaries+=("$p: $(grep -E '^==[0-9]+== ERROR SUMMARY' "$log" | tail -n 1 | sed -E 's/^==[0-9]+== //')")
done
printf '  %s\n' "${summaries[@]}"

step "the C example (examples/c/quickstart.c)"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude examples/c/quickstart.c -o "$out/quickstart" "${dynamic[@]}"
rm -f "$out/quickstart-tokens.redb"
(cd "$out" && ./quickstart) | tee "$out/quickstart.log"
grep -q -- '-> 401 (revoked)' "$out/quickstart.log" || fail "the example did not end with a refused request"
"${valgrind[@]}" -q "$out/quickstart" "$out/quickstart-vg.redb" >/dev/null || fail "the example under valgrind"
rm -f "$out/quickstart-tokens.redb" "$out/quickstart-vg.redb"

echo
echo "C tests: ${#programs[@]} programs in $runs runs (plain, static, ASan+UBSan, valgrind) and the example, $checks checks passed; $functions functions exported and declared; bad-input matrix: ${cases:-?} cases; golden vectors: ${golden:-?}; valgrind: 0 errors, 0 bytes lost"
