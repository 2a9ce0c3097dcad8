# Shell helpers shared by .ci/run, benchmarks/run.sh and loadtests/: source this file.
#
# pg_bin_with TOOL…   prints the folder holding every named PostgreSQL program: the one the
#                     first tool on PATH links to, else the newest of Debian's
#                     /usr/lib/postgresql/<version>/bin; exits 1 when none has them all.

pg_bin_with() {
    local dir tool candidates=()
    if command -v "$1" >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v "$1")")")")
    fi
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    for dir in "${candidates[@]}"; do
        for tool in "$@"; do
            [[ -x "$dir/$tool" ]] || continue 2
        done
        echo "$dir"
        return 0
    done
    return 1
}
