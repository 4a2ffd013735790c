"""Start and stop a single-node SLURM cluster (munged, slurmctld, slurmd).

Everything the cluster writes lives in one state folder: ``slurm.conf``,
the daemons' pid, log and state files and munged's socket. Clients find
the cluster through ``SLURM_CONF=<state>/slurm.conf`` (:meth:`LocalSlurm.env`),
so nothing under ``/etc/slurm`` is changed; only a missing
``/etc/munge/munge.key`` is created (as Debian's munge package expects).
The node is this host (``hostname -s``) with ``max(2, nproc)`` CPUs, so that
``srun -n 2`` runs on a 1-core machine too; the controller and slurmd ports
are free ports picked at start. Packages missing are installed with
``apt-get`` (root only).

    cluster = LocalSlurm('/tmp/ftan-slurm')
    cluster.start()          # returns when `srun -n 2 hostname` works
    subprocess.run(['srun', '-n', '2', 'hostname'], env=cluster.env())
    cluster.stop()           # stops the daemons it started, by pid file
"""
import os
import os.path as osp
import pwd
import shutil
import signal
import socket
import subprocess
import time
from typing import Dict, List, Optional

PACKAGES = ('slurm-wlm', 'munge')
# The programs each package provides that the cluster runs.
PROGRAMS = {'slurmctld': 'slurm-wlm', 'slurmd': 'slurm-wlm',
            'srun': 'slurm-wlm', 'scontrol': 'slurm-wlm',
            'sinfo': 'slurm-wlm', 'munged': 'munge'}
MUNGE_KEY = '/etc/munge/munge.key'
MUNGE_USER = 'munge'
PARTITION = 'local'
READY_TIMEOUT = 60.0
# Daemons in start order; stopped in reverse.
DAEMONS = ('munged', 'slurmctld', 'slurmd')


class SlurmSetupError(RuntimeError):
    """The cluster could not be installed, started or stopped."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _tail(path: str, lines: int = 15) -> str:
    if not osp.isfile(path):
        return f'({path} not written)'
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that no one reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return True


def missing_packages() -> List[str]:
    """The Debian packages whose programs are not on ``PATH``."""
    path = os.environ.get('PATH', '') + ':/usr/sbin:/sbin'
    return sorted({package for program, package in PROGRAMS.items()
                   if shutil.which(program, path=path) is None})


def install_packages(packages: List[str]) -> None:
    """``apt-get update`` once, then ``apt-get install -y`` the packages.

    Args:
        packages (list[str]): Debian package names.

    Raises:
        SlurmSetupError: Not root, no apt-get, or the install failed.
    """
    if not packages:
        return
    hint = f'install them (apt-get install {" ".join(packages)}) and rerun'
    if os.geteuid() != 0:
        raise SlurmSetupError(
            f'the local SLURM cluster needs {", ".join(packages)}, and only '
            f'root can install them here: {hint}')
    if shutil.which('apt-get') is None:
        raise SlurmSetupError(
            f'the local SLURM cluster needs {", ".join(packages)} and this '
            f'machine has no apt-get: {hint}')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for command in (['apt-get', 'update'],
                    ['apt-get', 'install', '-y', '--no-install-recommends',
                     *packages]):
        result = subprocess.run(command, env=env, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise SlurmSetupError(
                f'`{" ".join(command)}` failed (exit {result.returncode}): '
                f'{result.stderr.strip()[-800:]}')


def ensure_munge_key(path: str = MUNGE_KEY) -> None:
    """Write a random 1024-byte munge key owned by ``munge`` if absent.

    Args:
        path (str): The key file.
    """
    if osp.isfile(path):
        return
    user = pwd.getpwnam(MUNGE_USER)
    os.makedirs(osp.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(os.urandom(1024))
    os.chown(osp.dirname(path), user.pw_uid, user.pw_gid)
    os.chown(path, user.pw_uid, user.pw_gid)


class LocalSlurm:
    """A single-node SLURM cluster whose files live in ``state_dir``.

    Args:
        state_dir (str): Folder for the config, pid, log and state files
            (created; reused by :meth:`stop` from another process).
        cpus (int, optional): CPUs of the node; ``max(2, nproc)`` if None.
    """

    def __init__(self, state_dir: str, cpus: Optional[int] = None):
        self.state_dir = osp.abspath(state_dir)
        self.cpus = cpus or max(2, os.cpu_count() or 1)
        self.node = socket.gethostname().split('.')[0]
        self.conf = osp.join(self.state_dir, 'slurm.conf')
        self.munge_dir = osp.join(self.state_dir, 'munge')
        self.socket = osp.join(self.munge_dir, 'munge.socket.2')

    # ------------------------------------------------------------ paths
    def pid_file(self, daemon: str) -> str:
        """The pid file of ``munged``, ``slurmctld`` or ``slurmd``."""
        folder = self.munge_dir if daemon == 'munged' else self.state_dir
        return osp.join(folder, f'{daemon}.pid')

    def log_file(self, daemon: str) -> str:
        """The log file of a daemon."""
        folder = self.munge_dir if daemon == 'munged' else self.state_dir
        return osp.join(folder, f'{daemon}.log')

    def env(self) -> Dict[str, str]:
        """``os.environ`` with ``SLURM_CONF`` pointing at this cluster."""
        return dict(os.environ, SLURM_CONF=self.conf)

    # ------------------------------------------------------------ config
    def slurm_conf(self, controller_port: int, slurmd_port: int) -> str:
        """The text of ``slurm.conf``.

        Args:
            controller_port (int): ``SlurmctldPort``.
            slurmd_port (int): ``SlurmdPort``.

        Returns:
            str: One node (this host, :attr:`cpus` CPUs), one default
            partition :data:`PARTITION`; linuxproc process tracking, no
            task plugin, cons_tres selection, no accounting.
        """
        state = self.state_dir
        lines = [
            'ClusterName=ftan-local',
            f'SlurmctldHost={self.node}(127.0.0.1)',
            f'SlurmctldPort={controller_port}',
            f'SlurmdPort={slurmd_port}',
            'SlurmUser=root',
            'SlurmdUser=root',
            'AuthType=auth/munge',
            'CredType=cred/munge',
            f'AuthInfo=socket={self.socket}',
            f'StateSaveLocation={state}/ctld',
            f'SlurmdSpoolDir={state}/spool',
            f'SlurmctldPidFile={self.pid_file("slurmctld")}',
            f'SlurmdPidFile={self.pid_file("slurmd")}',
            f'SlurmctldLogFile={self.log_file("slurmctld")}',
            f'SlurmdLogFile={self.log_file("slurmd")}',
            f'PlugStackConfig={state}/plugstack.conf',
            'ProctrackType=proctrack/linuxproc',
            'TaskPlugin=task/none',
            'SelectType=select/cons_tres',
            'SelectTypeParameters=CR_CPU',
            'SchedulerType=sched/builtin',
            'MpiDefault=none',
            'ReturnToService=2',
            # The node is what this file says (CPUs above the cores of a
            # 1-core machine are not a misconfiguration here).
            'SlurmdParameters=config_overrides',
            'JobAcctGatherType=jobacct_gather/none',
            'AccountingStorageType=accounting_storage/none',
            'SlurmctldTimeout=30',
            'SlurmdTimeout=30',
            f'NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} '
            'State=UNKNOWN',
            f'PartitionName={PARTITION} Nodes={self.node} Default=YES '
            'MaxTime=INFINITE State=UP',
        ]
        return '\n'.join(lines) + '\n'

    def write_files(self) -> None:
        """Create the state folder, ``slurm.conf`` and munged's folder."""
        for folder in ('ctld', 'spool'):
            os.makedirs(osp.join(self.state_dir, folder), exist_ok=True)
        # munged refuses a socket whose folders not everyone can search.
        os.chmod(self.state_dir, 0o755)
        # munged's socket folder: its own, searchable by every client.
        os.makedirs(self.munge_dir, exist_ok=True)
        os.chmod(self.munge_dir, 0o755)
        user = pwd.getpwnam(MUNGE_USER)
        os.chown(self.munge_dir, user.pw_uid, user.pw_gid)
        with open(osp.join(self.state_dir, 'plugstack.conf'), 'w'):
            pass
        with open(self.conf, 'w') as f:
            f.write(self.slurm_conf(_free_port(), _free_port()))

    # ------------------------------------------------------------ daemons
    def running(self) -> Dict[str, int]:
        """The daemons of this cluster that run, by name: their pids."""
        pids = {}
        for daemon in DAEMONS:
            path = self.pid_file(daemon)
            if not osp.isfile(path):
                continue
            with open(path) as f:
                text = f.read().strip()
            if text.isdigit() and _pid_alive(int(text)):
                pids[daemon] = int(text)
        return pids

    def _run_daemon(self, daemon: str, command: List[str]) -> None:
        result = subprocess.run(command, env=self.env(), capture_output=True,
                                text=True, timeout=60)
        if result.returncode != 0:
            raise SlurmSetupError(
                f'{daemon} did not start (exit {result.returncode}): '
                f'{(result.stdout + result.stderr).strip()[-800:]}\n'
                f'{self.log_file(daemon)}:\n{_tail(self.log_file(daemon))}')
        deadline = time.monotonic() + 20
        while daemon not in self.running():
            if time.monotonic() > deadline:
                raise SlurmSetupError(
                    f'{daemon} wrote no live pid to {self.pid_file(daemon)}; '
                    f'{self.log_file(daemon)}:\n'
                    f'{_tail(self.log_file(daemon))}')
            time.sleep(0.1)

    def start(self) -> None:
        """Install what is missing, write the files, start the daemons and
        wait until ``srun -n 2 hostname`` runs.

        Raises:
            SlurmSetupError: Naming the step that failed, with log lines.
        """
        if self.running():
            raise SlurmSetupError(
                f'a cluster in {self.state_dir} is running '
                f'({self.running()}): stop it first')
        install_packages(missing_packages())
        ensure_munge_key()
        self.write_files()
        try:
            self._run_daemon('munged', [
                'runuser', '-u', MUNGE_USER, '--', 'munged',
                f'--socket={self.socket}',
                f'--pid-file={self.pid_file("munged")}',
                f'--log-file={self.log_file("munged")}',
                f'--seed-file={osp.join(self.munge_dir, "munged.seed")}',
                f'--key-file={MUNGE_KEY}'])
            self._run_daemon('slurmctld', ['slurmctld', '-c'])
            self._run_daemon('slurmd', ['slurmd', '-N', self.node])
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until a 2-task job step runs.

        Args:
            timeout (float): Seconds.

        Raises:
            SlurmSetupError: It did not within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        last = ''
        while time.monotonic() < deadline:
            try:
                result = subprocess.run(
                    ['srun', '-n', '2', '--immediate=10', 'hostname'],
                    env=self.env(), capture_output=True, text=True,
                    timeout=30)
                if result.returncode == 0 and \
                        result.stdout.split() == [self.node] * 2:
                    return
                last = (result.stdout + result.stderr).strip()
            except subprocess.TimeoutExpired:
                last = 'srun timed out'
            time.sleep(0.5)
        raise SlurmSetupError(
            f'`srun -n 2 hostname` did not run within {timeout:.0f} s: '
            f'{last[-600:]}\nslurmctld log:\n'
            f'{_tail(self.log_file("slurmctld"))}\nslurmd log:\n'
            f'{_tail(self.log_file("slurmd"))}')

    def stop(self, timeout: float = 20.0) -> List[str]:
        """Stop the daemons of this cluster (SIGTERM by pid file, then
        SIGKILL after ``timeout``).

        Args:
            timeout (float): Seconds each daemon has to exit.

        Returns:
            list[str]: The daemons it stopped.
        """
        stopped = []
        for daemon in reversed(DAEMONS):
            pid = self.running().get(daemon)
            if pid is None:
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(daemon)
        return stopped
