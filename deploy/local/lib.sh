# Sourced by run, stop and status: where the local runtime keeps its state, and how to
# recognise the processes it started (a pid file alone is not proof: pids get reused).
# shellcheck shell=bash disable=SC2034  # (its variables are used by the sourcing scripts)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="$repo/.state"
pids="$state/pids"
logs="$state/logs"
python="$repo/.venv/bin/python"

# Start order; stop goes the other way round (services before the infrastructure).
infra=(kafka redis)
services=(decider command-api projector query-api)
all=("${infra[@]}" "${services[@]}")

kafka_addr="${ORDERS_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
kafka_addr="${kafka_addr%%,*}"
kafka_port="${kafka_addr##*:}"
controller_port="${ORDERS_KAFKA_CONTROLLER_PORT:-9093}"
redis_port=6379
if [[ "${ORDERS_REDIS_URL:-}" =~ ^rediss?://([^@/]*@)?[^:/]+:([0-9]+) ]]; then
  redis_port="${BASH_REMATCH[2]}"
fi

die() { echo "error: $*" >&2; exit 1; }

is_known() { [[ " ${all[*]} " == *" $1 "* ]]; }

module_of() {
  case "$1" in
    decider) echo command_service.decider ;;
    command-api) echo command_service ;;
    projector) echo projector ;;
    query-api) echo query_service ;;
  esac
}

# The TCP ports a process listens on (checked free before starting it).
ports_of() {
  case "$1" in
    kafka) echo "$kafka_port $controller_port" ;;
    redis) echo "$redis_port" ;;
    decider) echo "${ORDERS_DECIDER_PORT:-8004}" ;;
    command-api) echo "${ORDERS_COMMAND_API_PORT:-8001} ${ORDERS_COMMAND_API_OPS_PORT:-8011}" ;;
    projector) echo "${ORDERS_PROJECTOR_PORT:-8003}" ;;
    query-api) echo "${ORDERS_QUERY_API_PORT:-8002} ${ORDERS_QUERY_API_OPS_PORT:-8012}" ;;
  esac
}

# Does the command line of <pid> look like the process we started as <name>?
shopt -s extglob
cmdline_matches() { # <name> <pid>
  local cmd
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$2/cmdline")" || return 1
  cmd="${cmd% }"
  # Just forked by launch() and not yet exec'd: the child still shows this script's
  # own command line (seen on a loaded machine as "kafka exited during start-up").
  [[ "$cmd" != "$(tr '\0' ' ' 2>/dev/null </proc/$$/cmdline | sed 's/ $//')" ]] || return 0
  case "$1" in
    # kafka-server (still formatting) execs kafka-run-class, which execs java.
    kafka) [[ "$cmd" == *"/bin/kafka-server $state/kafka "* || "$cmd" == *" kafka.Kafka $state/kafka/server.properties" ]] ;;
    # Redis rewrites its argv to "redis-server 127.0.0.1:<port>" once it runs.
    redis) [[ "$cmd" == *redis-server*@(":$redis_port"|"--port $redis_port ")* ]] ;;
    # Just launched, the process may still be nohup, about to exec.
    *) [[ "$cmd" == ?(nohup )"$python -m $(module_of "$1")" ]] ;;
  esac
}

# Prints the pid of <name> if the pid file names a live process of ours.
running_pid() { # <name>
  local pid
  pid="$(cat "$pids/$1.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && cmdline_matches "$1" "$pid" || return 1
  echo "$pid"
}

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Local bearer tokens (one per role), made once per checkout and kept in .state/tokens.env,
# unless ORDERS_AUTH_TOKENS is already set by the caller.
tokens_file="$state/tokens.env"
load_tokens() {
  [[ -z "${ORDERS_AUTH_TOKENS:-}" ]] || return 0
  if [[ ! -f "$tokens_file" ]]; then
    mkdir -p "$state"
    (
      umask 077
      for role in WRITER READER ADMIN; do
        echo "ORDERS_${role}_TOKEN=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
      done >"$tokens_file"
    )
  fi
  # shellcheck source=/dev/null
  source "$tokens_file"
  export ORDERS_AUTH_TOKENS="{\"writer\":[\"$ORDERS_WRITER_TOKEN\"],\"reader\":[\"$ORDERS_READER_TOKEN\"],\"admin\":[\"$ORDERS_ADMIN_TOKEN\"]}"
}
