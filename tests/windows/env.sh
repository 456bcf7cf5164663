# tests/windows/env.sh: sourced by tests/windows/embed-python and tests/windows/python.
# Where the Windows CPython and its wine prefix live, and which wine runs them.
WIN_DIR=${GREENLET_TEST_CACHE:-$HOME/.cache/greenlet-zig}/windows/python-3.13-amd64
# Debian's /usr/bin/wine goes through the 32-bit loader when wine32 is installed; the 64-bit loader
# runs a 64-bit python.exe directly (WINELOADER tells wine which loader its child processes use).
if [ -x /usr/lib/wine/wine64 ]; then
  WINE=/usr/lib/wine/wine64 WINE_SERVER=/usr/lib/wine/wineserver64
  export WINELOADER=$WINE
else
  WINE=$(command -v wine64 || command -v wine || echo wine64) WINE_SERVER=wineserver
fi
export WINEPREFIX=$WIN_DIR/wineprefix
export WINEDEBUG=${WINEDEBUG:--all}
