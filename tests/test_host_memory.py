import subprocess
import sys

CHECK = ("from snn_tha.kernels import host_memory; import torch, time\n"
         "print(host_memory.keep_freed_memory())\n")


def _run(env_value):
    env = {"SNN_THA_KEEP_FREED_MEMORY": env_value, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env,
                         check=True)
    return out.stdout.strip()


def test_glibc_takes_the_setting_and_the_environment_turns_it_off():
    assert _run("1") == "True"   # Linux/glibc: mallopt accepted both options
    assert _run("0") == "False"
