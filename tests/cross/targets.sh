# tests/cross/targets.sh: the emulated test targets, sourced by the scripts in tests/cross/
# and by tests/run. Defines no commands of its own and sets no shell options.
#
#   cross_target ARCH   sets, for ARCH (or its Debian / uname name):
#     CT_ARCH   our name: x86 x86_64 aarch64 arm riscv64 ppc64le s390x
#     CT_DEB    Debian architecture            CT_MA    multiarch triplet (= CPython's MULTIARCH)
#     CT_ZT     Zig target with the glibc floor setup.py builds for (GREENLET_ZIG_TARGET)
#     CT_ZCPU   Zig CPU model (the one setup.py picks for the architecture)
#     CT_WHEEL  architecture in the wheel's platform tag (manylinux_2_17_<CT_WHEEL>)
#     CT_QEMU   qemu-user binary              CT_QCPU  qemu -cpu model ("" = qemu's default)
#     CT_LDSO   ELF interpreter path          CT_NATIVE_OK  1 if an x86_64 kernel can run it
#     CT_PYTHONS  CPython versions tested on ARCH (Debian's, newest first)
#   cross_suite X.Y     prints the Debian suite whose python3 is CPython X.Y
#   cross_wheel_tags WHEEL  sets, from a greenlet wheel's file name:
#     WT_PYVER  X.Y of its cp3XY tag ("" for another tag)
#     WT_PLAT   its first platform tag (manylinux_2_17_s390x, musllinux_1_2_x86_64, ...)
#     WT_LIBC   manylinux or musllinux      WT_ARCH  the tag's architecture (s390x, i686, ...)
#
# qemu CPU models: aarch64 runs with pointer authentication (Debian's arm64 CPython uses it)
# but qemu's cheap "impdef" hash instead of the ~6x slower QARMA5; arm runs as a Cortex-A7
# and ppc64le as a POWER8, so that an instruction newer than the baseline we build for
# (ARMv7-A with VFPv3-D16, POWER8) traps; s390x keeps qemu's default model ("qemu", z196 and
# up is rejected by qemu's TCG).

CROSS_ARCHES="x86 x86_64 aarch64 arm riscv64 ppc64le s390x"

# Debian suite for each CPython version tested, in the order `--arch all` runs them: 3.13 of
# Debian 13, 3.11 of Debian 12, and 3.14, the default python3 of Debian unstable. riscv64 is an
# official architecture from Debian 13 on: it has no 3.11.
CROSS_SUITES="3.13:stable 3.11:oldstable 3.14:unstable"

cross_suite() {
  local pair
  for pair in $CROSS_SUITES; do
    if [ "${pair%%:*}" = "$1" ]; then echo "${pair#*:}"; return 0; fi
  done
  echo "no Debian suite is known for CPython $1 (known: $CROSS_SUITES)" >&2
  return 1
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
  CT_QCPU= CT_NATIVE_OK=0 CT_PYTHONS="3.14 3.13 3.11"
  case "${1:-}" in
    x86|i386|i686)
      CT_ARCH=x86 CT_WHEEL=i686 CT_DEB=i386 CT_MA=i386-linux-gnu CT_ZT=x86-linux-gnu.2.17 CT_ZCPU=i686
      CT_QEMU=qemu-i386-static CT_LDSO=/lib/ld-linux.so.2 CT_NATIVE_OK=1 ;;
    x86_64|amd64)
      CT_ARCH=x86_64 CT_WHEEL=x86_64 CT_DEB=amd64 CT_MA=x86_64-linux-gnu CT_ZT=x86_64-linux-gnu.2.17 CT_ZCPU=x86_64
      CT_QEMU=qemu-x86_64-static CT_LDSO=/lib64/ld-linux-x86-64.so.2 CT_NATIVE_OK=1 ;;
    aarch64|arm64)
      CT_ARCH=aarch64 CT_WHEEL=aarch64 CT_DEB=arm64 CT_MA=aarch64-linux-gnu CT_ZT=aarch64-linux-gnu.2.17 CT_ZCPU=generic
      CT_QEMU=qemu-aarch64-static CT_QCPU=max,pauth-impdef=on CT_LDSO=/lib/ld-linux-aarch64.so.1 ;;
    arm|armhf|armv7l)
      CT_ARCH=arm CT_WHEEL=armv7l CT_DEB=armhf CT_MA=arm-linux-gnueabihf CT_ZT=arm-linux-gnueabihf.2.17
      CT_ZCPU=generic+v7a+vfp3d16-neon CT_QEMU=qemu-arm-static CT_QCPU=cortex-a7
      CT_LDSO=/lib/ld-linux-armhf.so.3 ;;
    riscv64)
      CT_ARCH=riscv64 CT_WHEEL=riscv64 CT_DEB=riscv64 CT_MA=riscv64-linux-gnu CT_ZT=riscv64-linux-gnu.2.31
      CT_ZCPU=baseline_rv64 CT_QEMU=qemu-riscv64-static CT_LDSO=/lib/ld-linux-riscv64-lp64d.so.1
      CT_PYTHONS="3.14 3.13" ;;
    ppc64le|ppc64el|powerpc64le)
      # Zig provides ppc64le glibc from 2.19; its oldest symbol version is GLIBC_2.17 anyway
      CT_ARCH=ppc64le CT_WHEEL=ppc64le CT_DEB=ppc64el CT_MA=powerpc64le-linux-gnu CT_ZT=powerpc64le-linux-gnu.2.19
      CT_ZCPU=pwr8 CT_QEMU=qemu-ppc64le-static CT_QCPU=power8 CT_LDSO=/lib64/ld64.so.2 ;;
    s390x)
      CT_ARCH=s390x CT_WHEEL=s390x CT_DEB=s390x CT_MA=s390x-linux-gnu CT_ZT=s390x-linux-gnu.2.17 CT_ZCPU=z196
      CT_QEMU=qemu-s390x-static CT_LDSO=/lib/ld64.so.1 ;;
    *)
      echo "unknown architecture '${1:-}' (known: $CROSS_ARCHES)" >&2
      return 1 ;;
  esac
}
