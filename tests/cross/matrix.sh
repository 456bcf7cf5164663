# tests/cross/matrix.sh: the emulated runs of tests/run (`--arch`), sourced by tests/run.
#
# For each target ARCH and CPython X.Y (a "run", written ARCH:X.Y):
#   sysroot      tests/cross/sysroot: Debian's root filesystem with ARCH's CPython X.Y
#   build        the wheel for ARCH: the release wheel of tests/run's wheels step when the run
#                made one, else cross-built by the host's CPython X.Y (the venv of
#                tests/run) with GREENLET_ZIG_TARGET; unpacked into a directory that goes on
#                the guest's PYTHONPATH; checked with tests/cross/wheel-run (the guest imports
#                it from there and `python -m greenlet --no-bench` passes); the C API test
#                extension built for ARCH (GREENLET_CAPI_TEST_DIR)
#   suite        our tests/ under the guest interpreter
#   conformance  upstream's suite, its C/C++ extensions cross-built with zig, minus the tests
#                listed in tests/conformance-deselect.txt and, under qemu, in
#                tests/cross/conformance-deselect-emulated.txt
# Runs go GREENLET_CROSS_JOBS at a time (default: the number of CPUs), each logging to files;
# the parent collects their results into tests/run's tables. They always build this checkout
# (GREENLET_RUN_PACKAGE does not apply).
#
# Uses from tests/run: REPO CACHE LOGS NEUTRAL CONFORMANCE UPSTREAM_SRC RES TIME INFO COUNTS
# ANY_FAIL PYEXE, and run_step copy_checkout provision_one setup_venv venv_dir fetch_upstream
# upstream_tests_into deselect_args run_pytest record_counts release_wheel hdr say ok bad
# fmt_secs.

CROSS_DIR=$REPO/tests/cross
. "$CROSS_DIR/targets.sh"
CROSS_DEFAULT_RUNS=("${DEFAULT_EMULATED_SUITES[@]}")
CROSS_RUNS=()
CROSS_CONFORMANCE=1   # 0: our suite only (the default run's emulated targets)
CROSS_DESELECT_EMULATED=$CROSS_DIR/conformance-deselect-emulated.txt

# cross_add_spec SPEC: all | none | ARCH | ARCH:X.Y (ARCH alone: every CPython it has); on a
# bad SPEC, returns 1 with the reason in CROSS_ERROR
cross_add_spec() {
  local spec=$1 arch ver vers
  case $spec in
    none) CROSS_RUNS=(); return 0 ;;
    all)  # every target with each CPython in turn (the order of CROSS_PYTHONS)
      for ver in $CROSS_PYTHONS; do
        for arch in $CROSS_ARCHES; do
          cross_target "$arch"
          case " $CT_PYTHONS " in *" $ver "*) cross_add_spec "$arch:$ver" || return 1 ;; esac
        done
      done
      return 0 ;;
  esac
  arch=${spec%%:*}
  if ! cross_target "$arch" 2>/dev/null; then
    CROSS_ERROR="--arch $spec: unknown architecture '$arch' (known: $CROSS_ARCHES; all; none)"
    return 1
  fi
  if [[ $spec == *:* ]]; then
    ver=${spec#*:}
    case " $CT_PYTHONS " in
      *" $ver "*) vers=$ver ;;
      *) CROSS_ERROR="--arch $spec: $CT_ARCH is tested with CPython ${CT_PYTHONS// /, }"; return 1 ;;
    esac
  else
    vers=$CT_PYTHONS
  fi
  for ver in $vers; do
    case " ${CROSS_RUNS[*]} " in *" $CT_ARCH:$ver "*) ;; *) CROSS_RUNS+=("$CT_ARCH:$ver") ;; esac
  done
}

# ------------------------------------------------------------------ host side
# cross_host_venv X.Y: the venv of tests/run for the host's CPython X.Y (it builds the wheels),
# set up unless this run already did.
declare -A CROSS_VENV
cross_host_venv() {
  local v=$1 key="host $1 (cross builds)"
  if [ "${RES[$v venv]:-}" = ok ]; then CROSS_VENV[$v]=$(venv_dir "$v"); return 0; fi
  run_step "$key" "$LOGS/cross-host-$v.log" quiet cross_host_setup "$v"
  [ "${RES[$key]}" = ok ] && CROSS_VENV[$v]=$(venv_dir "$v")
}

cross_host_setup() {  # X.Y
  local exe
  provision_one "$1" | tee "$LOGS/cross-host-$1.provision"
  exe=$(tail -n 1 "$LOGS/cross-host-$1.provision")
  [ -x "$exe" ] || { echo "no interpreter for $1"; return 1; }
  setup_venv "$exe" "$(venv_dir "$1")"
}

# ------------------------------------------------------------------ one run
# cross_gap KEY LOG: a sysroot step that failed because no Debian suite could provide the tree
# (tests/cross/sysroot's "environment gap", exit 3) gets status "gap", not FAIL
cross_gap() {
  [ "${RES[$1]}" = FAIL ] && tail -n 1 "$2" | grep -q '^sysroot: environment gap:' || return 0
  RES[$1]=gap
  INFO[$1]=$(tail -n 1 "$2" | sed 's/^sysroot: environment gap: //')
}

# cross_guest_version ROOT X.Y: the full version of the tree's CPython X.Y (from its stamp)
cross_guest_version() {
  sed -n 2p "$1/.greenlet-cross" | grep -oE " ${2//./\\.}=[^ ]+" | cut -d= -f2
}

# cross_emulated ROOT: is the guest emulated (qemu) rather than run natively?
cross_emulated() {
  if grep -q '^native=1 ' "$1/.greenlet-cross" 2>/dev/null && [ "${GREENLET_CROSS_NATIVE:-1}" != 0 ]; then
    return 1
  fi
  return 0
}

cross_build() {  # ARCH X.Y ROOT WORK
  local arch=$1 v=$2 root=$3 work=$4 py=${CROSS_VENV[$2]}/bin/python whl ext inc built
  cross_target "$arch"
  copy_checkout "$work/src"
  rm -rf "$work/wheels" "$work/site" "$work/capi"
  mkdir -p "$work/wheels" "$work/site"
  # the release wheel of tests/run's wheels step when this run made one, else a build of it
  whl=$(release_wheel "cp${v/./}" "manylinux_*_$CT_WHEEL")
  if [ -n "$whl" ]; then
    echo "--- the release wheel of this run's wheels step"
  else
    echo "--- wheel for $CT_ZT with the host's $("$py" -c 'import platform; print(platform.python_version())')"
    ( cd "$NEUTRAL"
      GREENLET_ZIG_TARGET=$CT_ZT "$py" -m pip wheel --no-deps --no-build-isolation --no-cache-dir \
        -w "$work/wheels" "$work/src" )
    whl=$(ls "$work"/wheels/greenlet-*.whl)
  fi
  echo "wheel: ${whl##*/}"
  ( cd "$work/site" && "$py" -m zipfile -e "$whl" . )
  rm -rf "$work"/site/greenlet-*.data
  ext=$("$root/.python-$v" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  built=$(cd "$work/site/greenlet" && ls _greenlet*.so)
  echo "guest EXT_SUFFIX: $ext; wheel's extension: $built"
  [ "$built" = "_greenlet$ext" ] || { echo "the wheel's extension is not named for the guest interpreter"; return 1; }
  echo "--- the wheel under the guest (tests/cross/wheel-run)"
  "$CROSS_DIR/wheel-run" --arch "$arch" --python "$v" "$whl"
  echo "--- C API test extension for $CT_ZT"
  inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  ( cd "$work/src"
    "$py" -m ziglang build capi-test --prefix "$work/capi" -Doptimize=safe \
      -Dtarget="$CT_ZT" -Dcpu="$CT_ZCPU" -Dpython-include="$inc" -Dext-suffix="$ext" \
      -Dgreenlet-include="$work/site/greenlet" )
  ls -l "$work/capi/lib/_capi_test$ext"
}

cross_guest_env() {  # ROOT WORK: the environment of the guest's test runs
  export PYTHONPATH=$2/site GREENLET_CAPI_TEST_DIR=$2/capi/lib
  rm -rf "$2/tmp"; mkdir -p "$2/tmp"
  export TMPDIR=$2/tmp
  unset GREENLET_TEST_EMULATED
  if cross_emulated "$1"; then export GREENLET_TEST_EMULATED=1; fi
}

cross_suite() {  # ROOT WORK X.Y
  cross_guest_env "$1" "$2"
  if [ "$LONG" = 1 ]; then export GREENLET_TEST_LONG=1; else unset GREENLET_TEST_LONG; fi
  echo "guest: $("$1/.python-$3" -c 'import sys, greenlet; print(sys.version.split()[0], greenlet.__file__)')"
  echo "GREENLET_TEST_EMULATED=${GREENLET_TEST_EMULATED:-}"
  run_pytest "$1/.python-$3" "$REPO/tests" -q -p no:cacheprovider --rootdir="$REPO"
}

cross_conformance() {  # ARCH X.Y ROOT WORK
  local arch=$1 v=$2 root=$3 work=$4 py=${CROSS_VENV[$2]}/bin/python inc ext des=() des2=()
  cross_target "$arch"
  cross_guest_env "$root" "$work"
  inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  ext=$("$root/.python-$v" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  upstream_tests_into "$work/site/greenlet" "$py" "$inc" "$ext" "$work" \
    -target "$CT_ZT" -mcpu="$CT_ZCPU" -include "$work/src/src/greenlet/_target.h"
  mapfile -t des < <(deselect_args "$v")
  if [ -n "${GREENLET_TEST_EMULATED:-}" ]; then
    mapfile -t des2 < <(DESELECT_FILE=$CROSS_DESELECT_EMULATED deselect_args "$v")
    des+=("${des2[@]}")
    echo "emulated: $(( ${#des2[@]} / 2 )) more test(s) deselected (${CROSS_DESELECT_EMULATED#"$REPO"/})"
  fi
  [ ${#des[@]} -eq 0 ] || echo "deselected: $(( ${#des[@]} / 2 )) test(s)"
  unset GREENLET_MANYLINUX GREENLET_SKIP_LEAKCHECKS GREENLET_SKIP_FAILING_LEAKCHECKS \
        GREENLET_ONLY_FAILING_LEAKCHECKS
  run_pytest "$root/.python-$v" --pyargs greenlet.tests -q -p no:cacheprovider \
    --rootdir="$work/site" "${des[@]}"
}

# cross_one ARCH X.Y RESULTS: every step of one run, in a subshell of its own; the steps'
# results go to the file RESULTS (key|status|seconds|counts|info per line).
cross_one() {
  local arch=$1 v=$2 out=$3 K="$1/$2" root work log k
  ANY_FAIL=0
  work=$CACHE/work/cross-$v-$arch
  mkdir -p "$work"
  run_step "$K sysroot" "$LOGS/cross-$arch-$v-sysroot.log" quiet \
    "$CROSS_DIR/sysroot" "$arch" --python "$v"
  cross_gap "$K sysroot" "$LOGS/cross-$arch-$v-sysroot.log"
  if [ "${RES[$K sysroot]}" = ok ]; then
    root=$(tail -n 1 "$LOGS/cross-$arch-$v-sysroot.log")
    INFO[$K sysroot]="CPython $(cross_guest_version "$root" "$v"), $(cross_emulated "$root" && echo qemu-user || echo native)"
    run_step "$K build" "$LOGS/cross-$arch-$v-build.log" quiet cross_build "$arch" "$v" "$root" "$work"
  fi
  if [ "${RES[$K build]:-}" = ok ]; then
    log=$LOGS/cross-$arch-$v-suite.log
    run_step "$K suite" "$log" quiet cross_suite "$root" "$work" "$v"
    record_counts "$K suite" "$log"
    if [ "$CONFORMANCE" = 1 ] && [ "$CROSS_CONFORMANCE" = 1 ]; then
      log=$LOGS/cross-$arch-$v-conformance.log
      run_step "$K conformance" "$log" quiet cross_conformance "$arch" "$v" "$root" "$work"
      record_counts "$K conformance" "$log"
    fi
  fi
  for k in "$K sysroot" "$K build" "$K suite" "$K conformance"; do
    [ -n "${RES[$k]:-}" ] || continue
    printf '%s|%s|%s|%s|%s\n' "$k" "${RES[$k]}" "${TIME[$k]}" "${COUNTS[$k]:-}" "${INFO[$k]:-}"
  done >"$out"
}

cross_runs() {
  local run arch v vers=() jobs n=0 i
  jobs=${GREENLET_CROSS_JOBS:-$(nproc 2>/dev/null || echo 1)}
  hdr "emulated targets: ${CROSS_RUNS[*]} ($jobs at a time; logs: $LOGS/cross-*)"
  for run in "${CROSS_RUNS[@]}"; do
    v=${run#*:}
    case " ${vers[*]} " in *" $v "*) ;; *) vers+=("$v") ;; esac
  done
  for v in "${vers[@]}"; do cross_host_venv "$v"; done
  if [ "$CONFORMANCE" = 1 ] && [ "$CROSS_CONFORMANCE" = 1 ] && [ "${RES[upstream sdist]:-}" != ok ]; then
    for v in "${vers[@]}"; do
      if [ -n "${CROSS_VENV[$v]:-}" ]; then
        run_step "upstream sdist" "$LOGS/upstream-fetch.log" quiet fetch_upstream "${CROSS_VENV[$v]}"
        break
      fi
    done
  fi
  local started=$SECONDS pids=()
  for run in "${CROSS_RUNS[@]}"; do
    arch=${run%%:*} v=${run#*:}
    if [ -z "${CROSS_VENV[$v]:-}" ]; then
      RES[$arch/$v build]=FAIL; TIME[$arch/$v build]=0; ANY_FAIL=1
      bad "$arch/$v: no host CPython $v to build with"
      continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    say "    ... $arch/$v started"
    ( cross_one "$arch" "$v" "$LOGS/cross-$arch-$v.results" ) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  # collect the results of the subshells
  local line key st secs counts info
  for run in "${CROSS_RUNS[@]}"; do
    arch=${run%%:*} v=${run#*:}
    if [ ! -f "$LOGS/cross-$arch-$v.results" ]; then
      [ -n "${RES[$arch/$v build]:-}" ] || { RES[$arch/$v build]=FAIL; TIME[$arch/$v build]=0; }
      ANY_FAIL=1
      continue
    fi
    while IFS='|' read -r key st secs counts info; do
      RES[$key]=$st; TIME[$key]=$secs; INFO[$key]=$info
      [ -z "$counts" ] || COUNTS[$key]=$counts
      case $st in ok|gap) ;; *) ANY_FAIL=1 ;; esac
    done <"$LOGS/cross-$arch-$v.results"
  done
  say "    emulated runs: $(fmt_secs $((SECONDS - started))) wall time"
  cross_matrix >"$LOGS/cross-matrix.md"
}

# ------------------------------------------------------------------ results
cross_cell() {  # KEY
  local k=$1
  if [ -z "${RES[$k]:-}" ]; then echo "-"
  elif [ -n "${COUNTS[$k]:-}" ] && [ "${COUNTS[$k]}" != "- - -" ]; then
    set -- ${COUNTS[$k]}
    if [ "${RES[$k]}" = ok ]; then echo "$1/$2/$3"; else echo "$1/$2/$3 FAIL"; fi
  elif [ "${RES[$k]}" = ok ]; then echo ok
  else echo FAILED
  fi
}

cross_status() {  # ARCH/X.Y
  local k
  [ "${RES[$1 sysroot]:-}" != gap ] || { echo "GAP (no Debian suite served it)"; return; }
  for k in sysroot build suite conformance; do
    [ "${RES[$1 $k]:-}" != FAIL ] || { echo "FAILED ($k)"; return; }
  done
  [ -n "${RES[$1 suite]:-}" ] && echo ok || echo "FAILED (not run)"
}

# cross_summary_rows: rows of tests/run's summary; adds the test counts to the caller's
# total_p/total_f/total_s.
cross_summary_rows() {
  local run K k st
  [ ${#CROSS_RUNS[@]} -gt 0 ] || return 0
  for run in "${CROSS_RUNS[@]}"; do
    K=${run/://}
    st=$(cross_status "$K")
    case $st in ok) st="${G}ok${N}" ;; GAP*) st="${Y}$st${N}" ;; *) st="${R}$st${N}" ;; esac
    printf '%-19s %-22s %-22s %s\n' "$K" "$(cross_cell "$K suite")" \
      "$([ "$CONFORMANCE" = 1 ] && [ "$CROSS_CONFORMANCE" = 1 ] && cross_cell "$K conformance" || echo '(not run)')" "$st"
    for k in "$K suite" "$K conformance"; do
      [ -n "${COUNTS[$k]:-}" ] && [ "${COUNTS[$k]}" != "- - -" ] || continue
      set -- ${COUNTS[$k]}
      total_p=$((total_p + $1)); total_f=$((total_f + $2)); total_s=$((total_s + $3))
    done
  done
}

# cross_matrix: the results as a Markdown table (LOGS/cross-matrix.md; docs/matrix.md
# records one such table)
cross_matrix() {
  local run K arch v mode
  echo "| Target | CPython | Runs | Our suite (passed/failed/skipped) | Time | Conformance (passed/failed/skipped) | Time |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for run in "${CROSS_RUNS[@]}"; do
    arch=${run%%:*} v=${run#*:} K=${run/://}
    mode=${INFO[$K sysroot]:-}
    mode=${mode#CPython }
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$arch" "${mode%%,*}" "${mode#*, }" \
      "$(cross_cell "$K suite")" "$([ -n "${TIME[$K suite]:-}" ] && fmt_secs "${TIME[$K suite]}" || echo -)" \
      "$(cross_cell "$K conformance")" "$([ -n "${TIME[$K conformance]:-}" ] && fmt_secs "${TIME[$K conformance]}" || echo -)"
  done
}
