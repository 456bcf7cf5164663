# tests/cross/targets.sh: the emulated test targets, sourced by the scripts in tests/cross/
# and by tests/run. Every fact comes from targets.py at the top of the checkout (the one table
# of targets and Pythons); this file only gives the scripts their shell names. Defines no
# commands of its own and sets no shell options.
#
#   cross_target ARCH   sets, for ARCH (our name, or its wheel's, Debian's or Zig's):
#     CT_ARCH   our name: x86 x86_64 aarch64 arm riscv64 ppc64le s390x
#     CT_DEB    Debian architecture            CT_MA    multiarch triplet (= CPython's MULTIARCH)
#     CT_ZT     Zig target with the glibc floor setup.py builds for (GREENLET_ZIG_TARGET)
#     CT_ZCPU   Zig CPU model (the one setup.py picks for the architecture)
#     CT_WHEEL  architecture in the wheel's platform tag (manylinux_2_17_<CT_WHEEL>)
#     CT_QEMU   qemu-user binary              CT_QCPU  qemu -cpu model ("" = qemu's default)
#     CT_LDSO   ELF interpreter path          CT_NATIVE_OK  1 if an x86_64 kernel can run it
#     CT_PYTHONS  CPython versions Debian serves for ARCH (newest first)
#   cross_suites X.Y [ARCH]  prints the Debian suites that serve CPython X.Y (for ARCH: those
#                       of them that have ARCH), in the order to try
#   cross_qemu          prints the qemu-user binary for CT_ARCH (after cross_target), fetching
#                       it first when it comes from Debian unstable (tests/pythons/get-python)
#   cross_suite_pythons SUITE   prints the CPython versions taken from SUITE
#   cross_wheel_tags WHEEL  sets, from a greenlet wheel's file name:
#     WT_PYVER  X.Y of its cp3XY tag ("" for another tag)
#     WT_PLAT   its first platform tag (manylinux_2_17_s390x, musllinux_1_2_x86_64, ...)
#     WT_LIBC   manylinux or musllinux      WT_ARCH  the tag's architecture (s390x, i686, ...)

eval "$(python3 "$(dirname "${BASH_SOURCE[0]}")/../../targets.py" shell)"

CROSS_ARCHES="${ALL_TARGETS[*]}"
# CPython versions that Debian serves to the emulated targets, oldest first (the order in
# which `--arch all` runs them)
CROSS_PYTHONS=
for _v in "${ALL_PYTHONS[@]}"; do
  [ -z "${DEBIAN_SUITES[$_v]:-}" ] || CROSS_PYTHONS="${CROSS_PYTHONS:+$CROSS_PYTHONS }$_v"
done
unset _v

cross_suites() {
  local suites=${DEBIAN_SUITES[$1]:-} s out=
  if [ -z "$suites" ]; then
    echo "no Debian suite serves CPython $1 (targets.py serves: $CROSS_PYTHONS)" >&2
    return 1
  fi
  for s in $suites; do
    if [ -n "${2:-}" ] && [ -n "${TG_SUITES[${TG_ALIAS[$2]}]}" ]; then
      case " ${TG_SUITES[${TG_ALIAS[$2]}]} " in *" $s "*) ;; *) continue ;; esac
    fi
    out="${out:+$out }$s"
  done
  [ -n "$out" ] || { echo "no Debian suite of CPython $1 ($suites) has $2" >&2; return 1; }
  echo "$out"
}

cross_qemu() {
  case ${TG_QEMU_FROM[$CT_ARCH]} in
    debian-unstable)
      local root
      root=$(bash "$(dirname "${BASH_SOURCE[0]}")/../pythons/get-python" --debian-binary qemu-user | tail -n 1) || return 1
      [ -x "$root/usr/bin/qemu-${TG_QEMU_NAME[$CT_ARCH]}" ] || { echo "no qemu-${TG_QEMU_NAME[$CT_ARCH]} in $root" >&2; return 1; }
      echo "$root/usr/bin/qemu-${TG_QEMU_NAME[$CT_ARCH]}" ;;
    *) command -v "$CT_QEMU" ;;
  esac
}

cross_suite_pythons() {
  local v out=
  for v in "${ALL_PYTHONS[@]}"; do
    case " ${DEBIAN_SUITES[$v]:-} " in *" $1 "*) out="${out:+$out }$v" ;; esac
  done
  echo "$out"
}

cross_wheel_tags() {
  local name=${1##*/} pytag plat
  name=${name%.whl}
  # greenlet-VERSION-PYTAG-ABITAG-PLATFORM(.PLATFORM...)
  IFS=- read -r _ _ pytag _ plat <<<"$name"
  WT_PYVER=
  if [[ $pytag =~ ^cp3([0-9]+)$ ]]; then WT_PYVER=3.${BASH_REMATCH[1]}; fi
  WT_PLAT=${plat%%.*}
  WT_LIBC=${WT_PLAT%%_*}
  WT_ARCH=${WT_PLAT#*linux_*_*_}
}

cross_target() {
  local a=${TG_ALIAS[${1:-?}]:-}
  if [ -z "$a" ]; then
    echo "unknown architecture '${1:-}' (known: $CROSS_ARCHES)" >&2
    return 1
  fi
  CT_ARCH=$a CT_WHEEL=${TG_WHEEL[$a]} CT_DEB=${TG_DEB[$a]} CT_MA=${TG_MA[$a]}
  CT_ZT=${TG_ZT[$a]} CT_ZCPU=${TG_ZCPU[$a]} CT_QEMU=${TG_QEMU[$a]} CT_QCPU=${TG_QCPU[$a]}
  CT_LDSO=${TG_LDSO[$a]} CT_NATIVE_OK=${TG_NATIVE[$a]} CT_PYTHONS=${TG_PYTHONS[$a]}
}
