"""``python -m ftan_tools.cluster start|stop|status [DIR]`` (tools/local_slurm.sh).

``start`` prints the ``export SLURM_CONF=...`` line for the shell that
runs ``srun``; ``stop`` stops the daemons started in DIR, by pid file.
"""
import argparse
import sys

from .local_slurm import LocalSlurm, SlurmSetupError

DEFAULT_DIR = '/tmp/ftan-slurm'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='tools/local_slurm.sh',
        description='a single-node SLURM cluster on this machine')
    parser.add_argument('action', choices=['start', 'stop', 'status'])
    parser.add_argument('state_dir', nargs='?', default=DEFAULT_DIR,
                        help=f'config, pid and log folder ({DEFAULT_DIR})')
    parser.add_argument('--cpus', type=int,
                        help='CPUs of the node (default: max(2, nproc))')
    args = parser.parse_args(argv)
    cluster = LocalSlurm(args.state_dir, args.cpus)
    try:
        if args.action == 'start':
            cluster.start()
            print(f'export SLURM_CONF={cluster.conf}')
        elif args.action == 'stop':
            stopped = cluster.stop()
            print('stopped: ' + (', '.join(stopped) or 'nothing was running'))
        else:
            running = cluster.running()
            print(', '.join(f'{name} (pid {pid})'
                            for name, pid in running.items())
                  or f'no daemon of {args.state_dir} runs')
            return 0 if running else 3
    except SlurmSetupError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
