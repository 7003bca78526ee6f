# Sourced by the side-by-side benchmarks: a process's CPU time over a stretch of a run.
#   cpu_start PID; ...the workload...; ms=$(cpu_ms)
# Every thread of PID counts, those started and ended in between too. `perf stat -e task-clock`
# counts to the microsecond where perf may attach to the process; otherwise the figure is user +
# system time from /proc, in clock ticks (10 ms: too coarse for a run of 60 ms, fine for long ones).
_cpu_tick=$(getconf CLK_TCK)
proc_cpu_ms() { awk -v t="$_cpu_tick" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
cpu_start() {
  _cpu_pid=$1 _cpu_before=$(proc_cpu_ms "$1") _cpu_file=$(mktemp) _cpu_perf=''
  if command -v perf >/dev/null; then
    perf stat -e task-clock -x, -p "$1" -o "$_cpu_file" 2>/dev/null &
    _cpu_perf=$!
    sleep 0.2 # attached before the workload starts
  fi
}
cpu_ms() {
  local ms=''
  if [ -n "$_cpu_perf" ]; then
    kill -INT "$_cpu_perf" 2>/dev/null || true
    wait "$_cpu_perf" 2>/dev/null || true
    ms=$(awk -F, '$3 == "task-clock" && $1 ~ /^[0-9.]+$/ { print $1 }' "$_cpu_file")
  fi
  [ -n "$ms" ] || ms=$(echo "$(proc_cpu_ms "$_cpu_pid") - $_cpu_before" | bc)
  rm -f "$_cpu_file"
  echo "$ms"
}
