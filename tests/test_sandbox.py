"""The sandbox contains hostile programs: each adversarial program finishes within its
timeout + 1 s and leaves no process, file or directory behind."""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tunepipe import sandbox

LIM = dict(timeout_s=1.0, memory_mb=256)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def caps():
    return sandbox.capabilities()


def _cmdline_pids(marker: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(name))
            except OSError:
                pass
    return out


def _sandbox_uid_pids(caps) -> list[int]:
    if not caps.get("uid_range"):
        return []
    lo, hi = caps["uid_range"]
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if lo <= os.stat(f"/proc/{name}").st_uid < hi:
                    out.append(int(name))
            except OSError:
                pass
    return out


def _assert_clean(caps, marker: str | None = None) -> None:
    deadline = time.monotonic() + 1.0   # /proc entries vanish when the kernel reaps them
    while True:
        left = _sandbox_uid_pids(caps) + (_cmdline_pids(marker) if marker else [])
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == [], f"processes survived the run: {left}"
    assert not [p for p in os.listdir("/tmp") if p.startswith("tunepipe-sbx-")]


def _within(res, timeout_s=LIM["timeout_s"]):
    assert res.wall_s <= timeout_s + 1.0, res


def test_runs_a_normal_program():
    res = sandbox.run("n = int(input())\nprint(sum(map(int, input().split())) * n)",
                      "2\n1 2 3\n", **LIM)
    assert (res.stdout, res.stderr, res.returncode, res.killed_reason) == ("12\n", "", 0, None)
    assert res.ok and not res.timed_out


def test_exit_codes_and_tracebacks():
    assert sandbox.run("import sys; sys.exit(3)", "", **LIM).returncode == 3
    assert sandbox.run("exit(4)", "", **LIM).returncode == 4   # site's exit() exists
    res = sandbox.run("x = 1\nraise ValueError('boom')", "", **LIM)
    assert res.returncode == 1 and res.killed_reason is None
    assert 'File "main.py", line 2' in res.stderr and "ValueError: boom" in res.stderr
    assert "tunepipe" not in res.stderr   # no frame of the sandbox's own modules
    assert sandbox.run("input()", "", **LIM).stderr.strip().endswith("EOFError: EOF when reading a line")


def test_stdio_fidelity():
    code = ("import sys\ndata = sys.stdin.read()\nsys.stdout.write(data.upper())\n"
            "print(__name__, sys.argv, len(data))")
    res = sandbox.run(code, "ab\r\ncd\n", **LIM)
    assert res.stdout == "AB\r\nCD\n__main__ ['main.py'] 7\n"


def test_large_stdin_and_unread_stdin():
    big = "x" * 3_000_000 + "\n"
    res = sandbox.run("import sys\nprint(len(sys.stdin.read()))", big, **LIM)
    assert res.stdout == f"{len(big)}\n"
    res = sandbox.run("print('ignored stdin')", big, **LIM)   # never reads: no deadlock
    assert res.stdout == "ignored stdin\n"


#: a busy loop under the wall-clock limit alone (cpu_s defaults to timeout_s, and the two
#: limits then race: which one kills it first depends on the machine's load)
WALL_ONLY = {**LIM, "cpu_s": 5.0}


def test_infinite_loop_times_out(caps):
    res = sandbox.run("while True:\n    pass", "", **WALL_ONLY)
    assert res.timed_out and res.killed_reason == "timeout" and res.returncode == -9
    _within(res)
    _assert_clean(caps)


def test_cpu_limit():
    res = sandbox.run("while True:\n    pass", "", timeout_s=5, cpu_s=1, memory_mb=256)
    assert res.killed_reason == "cpu" and not res.timed_out
    assert res.wall_s < 3


def test_fork_bomb_is_contained(caps):
    marker = f"FORKBOMB_{uuid.uuid4().hex}"
    code = ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
            f"        os.execv('/bin/sleep', ['{marker}', '60'])")
    res = sandbox.run(code, "", **LIM)
    _within(res)
    _assert_clean(caps, marker)
    res = sandbox.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                      "        pass", "", **LIM)
    _within(res)
    _assert_clean(caps)
    assert subprocess.run(["true"]).returncode == 0   # the host can still fork


def test_memory_bomb_is_contained(caps):
    res = sandbox.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))", "", **LIM)
    assert res.killed_reason == "memory" and res.returncode != 0
    _within(res)
    res = sandbox.run("x = bytearray(8 * 1024 ** 3)", "", **LIM)
    assert res.killed_reason == "memory"
    # several processes: RLIMIT_AS is per process; the memory cgroup caps the whole run
    code = ("import os\nfor _ in range(6):\n    if os.fork() == 0:\n        break\n"
            "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))")
    res = sandbox.run(code, "", timeout_s=4, memory_mb=256)
    _within(res, 4)
    if caps["memory_cgroup"]:
        assert res.killed_reason == "memory"
    _assert_clean(caps)


def test_huge_output_is_capped(caps):
    res = sandbox.run("while True:\n    print('x' * 1000)", "", **LIM, max_output_bytes=100_000)
    assert res.killed_reason == "output" and len(res.stdout) == 100_000
    _within(res)
    res = sandbox.run("import sys\nwhile True:\n    sys.stderr.write('e' * 4096)", "", **LIM,
                      max_output_bytes=50_000)
    assert res.killed_reason == "output" and len(res.stderr) == 50_000
    res = sandbox.run("import os\nos.write(1, b'y' * 10 ** 8)", "", timeout_s=2, memory_mb=512,
                      max_output_bytes=1_000_000)
    assert res.killed_reason == "output" and len(res.stdout) == 1_000_000
    _assert_clean(caps)


def test_deep_recursion(caps):
    res = sandbox.run("def f(n):\n    return f(n + 1)\nf(0)", "", **LIM)
    assert res.returncode == 1 and "RecursionError" in res.stderr
    res = sandbox.run("import sys\nsys.setrecursionlimit(10 ** 8)\n"
                      "def f(n):\n    return f(n + 1) + 1\nf(0)", "", **LIM)
    assert res.returncode != 0
    _within(res)
    _assert_clean(caps)


def test_writes_outside_the_work_dir_do_not_persist(caps, tmp_path):
    tag = uuid.uuid4().hex
    targets = [f"/tmp/pwned-{tag}", f"/var/tmp/pwned-{tag}", f"/dev/shm/pwned-{tag}",
               str(REPO / f"pwned-{tag}"), str(tmp_path / f"pwned-{tag}")]
    code = ("import os\nfor p in %r:\n    try:\n        open(p, 'w').write('x')\n"
            "        print('wrote', p)\n    except OSError as e:\n        print('denied', p)\n"
            "open('local.txt', 'w').write('x')\nprint(os.getcwd())" % (targets,))
    res = sandbox.run(code, "", **LIM)
    assert res.returncode == 0, res
    _within(res)
    for p in targets:
        assert not os.path.exists(p), p
    workdir = res.stdout.splitlines()[-1]
    assert not os.path.exists(os.path.join(workdir, "local.txt"))
    _assert_clean(caps)


def test_no_secrets_in_the_environment(monkeypatch, caps):
    secret = f"sekrit-{uuid.uuid4().hex}"
    for var in ("HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "TUNEPIPE_TEST_SECRET"):
        monkeypatch.setenv(var, secret)
    sandbox.shutdown()   # the next zygote starts from a parent environment holding secrets
    code = ("import os, glob\nprint(dict(os.environ))\n"
            "print(open('/proc/self/environ').read())\n"
            "for p in glob.glob('/proc/*/environ'):\n    try:\n"
            "        print(p, open(p).read())\n    except OSError:\n        pass\n"
            f"print(open('/proc/{os.getpid()}/environ').read())")
    res = sandbox.run(code, "", **LIM)
    _within(res)
    assert "PATH=" in res.stdout
    assert secret not in res.stdout + res.stderr
    assert "HF_TOKEN" not in res.stdout and "AWS_" not in res.stdout


def test_no_network():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.3)
    port = srv.getsockname()[1]
    code = ("import socket\ntry:\n"
            f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    s.sendall(b'exfiltrate')\n    print('connected')\n"
            "except OSError as e:\n    print('blocked', e)")
    try:
        res = sandbox.run(code, "", **LIM)
        _within(res)
        assert res.stdout.startswith("blocked"), res
        with pytest.raises(socket.timeout):
            srv.accept()
    finally:
        srv.close()


def test_double_forked_daemon_does_not_survive(caps):
    marker = f"DAEMON_{uuid.uuid4().hex}"
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execv('/bin/sleep', ['{marker}', '60'])\n    os._exit(0)\n"
            "time.sleep(0.6)\nprint('parent exits')")
    seen, box = [], {}
    th = threading.Thread(target=lambda: box.setdefault("res", sandbox.run(code, "", **LIM)))
    th.start()
    for _ in range(40):   # the daemon exists while the program runs...
        seen = _cmdline_pids(marker)
        if seen:
            break
        time.sleep(0.02)
    th.join()
    assert seen, "the daemon never started: the test would prove nothing"
    assert box["res"].stdout == "parent exits\n"
    _within(box["res"])
    _assert_clean(caps, marker)   # ...and not after run() returns
    for pid in seen:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_killing_the_parent_fails(caps):
    me = os.getpid()
    code = ("import os\nfor pid in (os.getppid(), %d, 1):\n    try:\n        os.kill(pid, 9)\n"
            "        print('killed', pid)\n    except OSError as e:\n        print('refused', pid)\n"
            % me)
    if caps["pid_namespace"] or caps["setuid"]:
        code += "try:\n    os.kill(-1, 9)\nexcept OSError:\n    pass\n"
    code += "print('still here')"
    _within(sandbox.run(code, "", **LIM))
    assert os.getpid() == me   # we survived, and the sandbox still works:
    assert sandbox.run("print(1)", "", **LIM).stdout == "1\n"
    _assert_clean(caps)


def test_run_many_keeps_order():
    jobs = [dict(code="print(int(input()) ** 2)", stdin=f"{i}\n", **LIM) for i in range(24)]
    assert [r.stdout for r in sandbox.run_many(jobs)] == [f"{i * i}\n" for i in range(24)]
    assert sandbox.run_many([]) == []


def test_socket_block_fallback():
    """Without a network namespace, socket creation is blocked in the program's process."""
    code = ("import socket, sys\nsys.path.insert(0, %r)\nfrom tunepipe import sandbox\n"
            "sandbox._block_sockets()\ntry:\n    socket.socket()\nexcept PermissionError:\n"
            "    print('blocked')" % str(REPO / "src"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == "blocked\n", out.stderr


def test_private_dirs_are_hidden(caps):
    """The caller's working directory (the repository: .dvc/config.local...), /root and
    /home are empty and read-only for programs; the interpreter still works."""
    if str(REPO) not in caps["hidden_dirs"]:
        pytest.skip("no mount namespace here: directories cannot be hidden")
    code = ("import os, json\nout = {}\nfor p in %r:\n    try:\n        out[p] = sorted(os.listdir(p))\n"
            "    except OSError as e:\n        out[p] = type(e).__name__\n"
            "try:\n    open(%r, 'w')\nexcept OSError as e:\n    out['write'] = e.errno\n"
            "import decimal, json\nprint(json.dumps(out))" % ([str(REPO), "/root", "/home"], str(REPO / "x")))
    res = sandbox.run(code, "", **LIM)
    assert res.returncode == 0, res
    seen = json.loads(res.stdout)
    assert "params.yaml" not in str(seen[str(REPO)]) and "src" not in str(seen[str(REPO)])
    assert seen["write"] in (errno.EROFS, errno.EACCES)


@pytest.fixture
def fallback():
    """The portable mode (no namespaces): what macOS or a namespace-less Linux gets."""
    sandbox.configure(namespaces=False)
    try:
        caps = sandbox.capabilities()
        if not caps["root"]:
            pytest.skip("the fallback is only contained per uid when it runs as root")
        yield caps
    finally:
        sandbox.configure(namespaces=True)


def test_fallback_contains_the_adversaries(fallback):
    caps = fallback
    assert not caps["pid_namespace"] and caps["network"] == "socket-monkeypatch" and caps["setuid"]
    res = sandbox.run("while True:\n    pass", "", **WALL_ONLY)
    assert res.killed_reason == "timeout"
    _within(res)
    res = sandbox.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                      "        pass", "", **LIM)
    _within(res)
    _assert_clean(caps)
    marker = f"FBDAEMON_{uuid.uuid4().hex}"
    res = sandbox.run("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                      f"        os.execv('/bin/sleep', ['{marker}', '60'])\n    os._exit(0)\n"
                      "time.sleep(0.3)\nprint('parent exits')", "", **LIM)
    assert res.stdout == "parent exits\n"
    _assert_clean(caps, marker)
    tag = uuid.uuid4().hex
    res = sandbox.run(f"for d in ('/tmp', '/var/tmp', '/dev/shm'):\n    open(d + '/pwned-{tag}', 'w')\n"
                      f"open('{REPO}/pwned-{tag}', 'w')", "", **LIM)
    assert "PermissionError" in res.stderr   # the repository is not writable by the slot uid
    assert not [d for d in ("/tmp", "/var/tmp", "/dev/shm", str(REPO)) if os.path.exists(f"{d}/pwned-{tag}")]
    res = sandbox.run("import socket\nsocket.create_connection(('127.0.0.1', 9))", "", **LIM)
    assert "network access is disabled" in res.stderr
    res = sandbox.run("print(open('/proc/self/environ').read())", "", **LIM)
    assert "HOME=" in res.stdout and "HF_TOKEN" not in res.stdout


def test_capabilities_report(caps):
    for key in ("network", "pid_namespace", "setuid", "memory_cgroup", "killing", "uid_range",
                "hidden_dirs", "readonly_root"):
        assert key in caps
    if caps["root"] and caps["pid_namespace"]:   # this project's Linux boxes
        assert caps["setuid"] and caps["network"] == "namespace"


# ------------------------------------------------- the interpreter, as the validators'


def test_site_packages_and_script_dir():
    """Programs see the interpreter's site-packages (the validators' image has numpy and
    pandas) and, like ``python main.py``, their own directory first on sys.path."""
    res = sandbox.run("import sys, os\nopen('helper.py', 'w').write('X = 7')\nimport helper\n"
                      "print(helper.X, sys.path[0] == os.getcwd())\n"
                      "import importlib.util\nprint(importlib.util.find_spec('numpy') is not None)",
                      "", **LIM)
    assert res.stdout.split("\n")[0] == "7 True", res
    numpy_here = subprocess.run([sys.executable, "-c", "import numpy"], capture_output=True).returncode == 0
    assert res.stdout.split("\n")[1] == str(numpy_here)


def test_interpreter_param():
    with pytest.raises(ValueError, match="^python: no executable interpreter"):
        sandbox.run("print(1)", "", **LIM, python="/no/such/python")
    with pytest.raises(ValueError, match="^python: .* is not a CPython"):
        sandbox.run("print(1)", "", **LIM, python="/bin/sh")
    assert sandbox.interpreter() == os.path.abspath(sys.executable)
    other = next((p for p in (str(REPO / ".venv-validator/bin/python"), "/usr/bin/python3")
                  if os.path.exists(p) and os.path.realpath(p) != os.path.realpath(sys.executable)), None)
    if other is None:
        pytest.skip("no second interpreter here")
    want = subprocess.run([other, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
    res = sandbox.run("import sys\nprint(sys.version)", "", **LIM, python=other)
    assert res.stdout == want and sandbox.capabilities(python=other)["python"] == other
    _assert_clean(sandbox.capabilities(python=other))


def test_hash_seed():
    code = "print(hash('abc'), list({'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}))"
    pinned = [sandbox.run(code, "", **LIM, hash_seed=s).stdout for s in (0, 0, 1)]
    want = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"}).stdout
    assert pinned[0] == pinned[1] == want != pinned[2]
    assert sandbox.run(code, "", **LIM).stdout not in pinned   # randomised (per zygote)
    assert sandbox.run("import os\nprint('PYTHONHASHSEED' in os.environ)", "", **LIM).stdout == "False\n"
    with pytest.raises(ValueError, match="^hash_seed: "):
        sandbox.run("print(1)", "", **LIM, hash_seed=-1)


def test_raw_output_and_truncation_flags():
    res = sandbox.run("import sys\nsys.stdout.buffer.write(b'\\xffok\\r\\n')", "", **LIM)
    assert (res.raw_stdout, res.stdout) == (b"\xffok\r\n", "\ufffdok\r\n")
    assert not res.stdout_truncated and not res.stderr_truncated
    for fd in (1, 2):
        res = sandbox.run(f"import os\nos.write({fd}, b'x' * 5000)", "", **LIM, max_output_bytes=3000)
        assert res.killed_reason == "output"
        assert (res.stdout_truncated, res.stderr_truncated) == (fd == 1, fd == 2)
        assert len(res.raw_stdout if fd == 1 else res.raw_stderr) == 3000


def test_py312_syntax_warning_on_older_interpreters():
    """CPython 3.12 prints a SyntaxWarning for an invalid escape sequence; older versions
    hide a DeprecationWarning. The sandbox shows what 3.12 shows."""
    res = sandbox.run("x = '\\d'\nprint(x)", "", **LIM)
    assert res.stdout == "\\d\n"
    assert res.stderr == "main.py:1: SyntaxWarning: invalid escape sequence '\\d'\n  x = '\\d'\n"
    assert sandbox.run("x = r'\\d'\ny = 1 is 1", "", **LIM).stderr.count("SyntaxWarning") == 1
