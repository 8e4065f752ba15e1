# Sourced by run, stop and status: where the local runtime keeps its state, and how to
# recognise the processes it started (a pid file alone is not proof: pids get reused).
# Two layouts: `single` (make run: one Kafka node and one of each process) and `cluster`
# (ORDERS_LOCAL_LAYOUT=cluster, make run-cluster: three Kafka nodes with replication
# factor 3, and two instances of each service, named like decider-2; no console).
# shellcheck shell=bash disable=SC2034  # (its variables are used by the sourcing scripts)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
layout="${ORDERS_LOCAL_LAYOUT:-single}"
case "$layout" in
  single) state="${ORDERS_LOCAL_STATE:-$repo/.state}" ;;
  cluster) state="${ORDERS_LOCAL_STATE:-$repo/.state/cluster}" ;;
  *) echo "error: ORDERS_LOCAL_LAYOUT must be single or cluster, not '$layout'" >&2 && exit 1 ;;
esac
pids="$state/pids"
logs="$state/logs"
python="$repo/.venv/bin/python"
kinds=(kafka redis decider command-api projector query-api console)

# Start order; stop goes the other way round (services before the infrastructure).
if [[ "$layout" == single ]]; then
  infra=(kafka redis)
  services=(decider command-api projector query-api console)
  kafka_addr="${ORDERS_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
  kafka_addr="${kafka_addr%%,*}"
  kafka_port="${kafka_addr##*:}"
  controller_port="${ORDERS_KAFKA_CONTROLLER_PORT:-9093}"
  bootstrap="$kafka_addr"
  redis_port=6379
  if [[ "${ORDERS_REDIS_URL:-}" =~ ^rediss?://([^@/]*@)?[^:/]+:([0-9]+) ]]; then
    redis_port="${BASH_REMATCH[2]}"
  fi
else
  infra=(kafka-1 kafka-2 kafka-3 redis)
  services=(decider-1 decider-2 command-api-1 command-api-2 projector-1 projector-2
    query-api-1 query-api-2)
  # Every port is <base> + offset + instance; the offset moves the whole cluster
  # (a test picks one whose ports are free). Clear of make run's ports, so both can run.
  offset="${ORDERS_CLUSTER_PORT_OFFSET:-0}"
  if [[ ! "$offset" =~ ^[0-9]{1,5}$ ]] || ((10#$offset > 40000)); then
    echo "error: ORDERS_CLUSTER_PORT_OFFSET must be a number from 0 to 40000" >&2
    exit 1
  fi
  offset=$((10#$offset)) # not octal: 010 is ten
  redis_port=$((16379 + offset))
  bootstrap="127.0.0.1:$((19091 + offset)),127.0.0.1:$((19092 + offset)),127.0.0.1:$((19093 + offset))"
  kafka_addr="${bootstrap%%,*}"
  kafka_port="${kafka_addr##*:}"
  voters="1@127.0.0.1:$((19191 + offset)),2@127.0.0.1:$((19192 + offset)),3@127.0.0.1:$((19193 + offset))"
fi
all=("${infra[@]}" "${services[@]}")

die() { echo "error: $*" >&2; exit 1; }

is_known() { [[ " ${all[*]} " == *" $1 "* ]]; }

# decider-2 -> decider and 2; decider -> decider and 1 (command-api keeps its dash).
kind_of() { echo "${1%-[0-9]}"; }
instance_of() { if [[ "$1" =~ -([0-9])$ ]]; then echo "${BASH_REMATCH[1]}"; else echo 1; fi; }

module_of() {
  case "$(kind_of "$1")" in
    decider) echo command_service.decider ;;
    command-api) echo command_service ;;
    projector) echo projector ;;
    query-api) echo query_service ;;
    console) echo projector.console ;;
  esac
}

# The TCP ports a process listens on (checked free before starting it).
ports_of() {
  local i
  i="$(instance_of "$1")"
  if [[ "$layout" == cluster ]]; then
    case "$(kind_of "$1")" in
      kafka) echo "$((19090 + offset + i)) $((19190 + offset + i))" ;;
      redis) echo "$redis_port" ;;
      command-api) echo "$((18000 + offset + i)) $((18010 + offset + i))" ;;
      query-api) echo "$((18020 + offset + i)) $((18030 + offset + i))" ;;
      projector) echo "$((18040 + offset + i))" ;;
      decider) echo "$((18050 + offset + i))" ;;
    esac
    return
  fi
  case "$1" in
    kafka) echo "$kafka_port $controller_port" ;;
    redis) echo "$redis_port" ;;
    decider) echo "${ORDERS_DECIDER_PORT:-8004}" ;;
    command-api) echo "${ORDERS_COMMAND_API_PORT:-8001} ${ORDERS_COMMAND_API_OPS_PORT:-8011}" ;;
    projector) echo "${ORDERS_PROJECTOR_PORT:-8003}" ;;
    query-api) echo "${ORDERS_QUERY_API_PORT:-8002} ${ORDERS_QUERY_API_OPS_PORT:-8012}" ;;
    console) echo "${ORDERS_CONSOLE_PORT:-8005}" ;;
  esac
}

# The port of a process's HTTP API (the first of ports_of).
http_port() { local p; p="$(ports_of "$1")"; echo "${p%% *}"; }

# In the cluster layout, the settings that make a process one instance among several, as
# on hosts of its own: its ports, its state directory and (deciders) its instance id.
# Printed as NAME=value lines; empty in the single layout (the caller's ORDERS_* apply).
cluster_env_of() { # <name>
  [[ "$layout" == cluster ]] || return 0
  local name="$1" ports
  ports="$(ports_of "$name")"
  echo "ORDERS_KAFKA_BOOTSTRAP=$bootstrap"
  echo "ORDERS_REDIS_URL=redis://127.0.0.1:$redis_port/0"
  echo "ORDERS_REPLICATION_FACTOR=3"
  echo "ORDERS_STATE_DIR=$state/$name"
  case "$(kind_of "$name")" in
    decider) echo "ORDERS_DECIDER_PORT=$ports" && echo "ORDERS_DECIDER_INSTANCE_ID=$name" ;;
    command-api) echo "ORDERS_COMMAND_API_PORT=${ports% *}" && echo "ORDERS_COMMAND_API_OPS_PORT=${ports#* }" ;;
    query-api) echo "ORDERS_QUERY_API_PORT=${ports% *}" && echo "ORDERS_QUERY_API_OPS_PORT=${ports#* }" ;;
    projector) echo "ORDERS_PROJECTOR_PORT=$ports" ;;
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
  case "$(kind_of "$1")" in
    # kafka-server (still formatting) execs kafka-run-class, which execs java.
    kafka) [[ "$cmd" == *"/bin/kafka-server $state/$1 "* || "$cmd" == *" kafka.Kafka $state/$1/server.properties" ]] ;;
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
