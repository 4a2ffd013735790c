"""The commands of ``tools/gpu_check.sh`` (the offline GPU run), run as
``python -m ftan_tools.gpu_check COMMAND`` with the checkout on the path;
standard library only at import time, so that any Python can run them
before the stack is installed.

    classify SRC DIR --python-version X.Y [--full] [--platform TAG ...]
        [--stack KEY=VALUE ...] [--skip N,N]
    requirements FILE ... [--skip N,N]
    install-specs DIR --pin mmengine==X ...
    check-target DIR
    check-imports --json FILE [--cpu] [--allow-missing MOD,MOD]
        [--mmcv-version X]
    geotiff DIR --size 2048
    predict-check OUT.tif REF.tif
    summary WORK OUT [--setting KEY=VALUE ...]
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from .scene import predict_check, write_geotiff_pair
from .summary import summarize
from .summary_markdown import summary_markdown
from .target import check_imports, check_target
from .wheels import (PrepareError, classify, install_specs, load_manifest,
                     read_requirement_names)


def main(argv=None) -> int:
    """Run one command.

    Args:
        argv (list[str], optional): The command line (default: sys.argv).

    Returns:
        int: The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('classify')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--python-version', required=True)
    p.add_argument('--full', action='store_true')
    p.add_argument('--platform', action='append', default=[])
    p.add_argument('--stack', action='append', default=[],
                   metavar='KEY=VALUE')
    p.add_argument('--skip', default='', help='comma-separated names')
    p = sub.add_parser('requirements')
    p.add_argument('files', nargs='+')
    p.add_argument('--skip', default='', help='comma-separated names')
    p = sub.add_parser('install-specs')
    p.add_argument('dir')
    p.add_argument('--pin', action='append', default=[])
    p = sub.add_parser('check-target')
    p.add_argument('dir')
    p = sub.add_parser('check-imports')
    p.add_argument('--json', required=True)
    p.add_argument('--cpu', action='store_true')
    p.add_argument('--allow-missing', default='')
    p.add_argument('--mmcv-version', default=None)
    p = sub.add_parser('geotiff')
    p.add_argument('dir')
    p.add_argument('--size', type=int, required=True)
    p = sub.add_parser('predict-check')
    p.add_argument('out')
    p.add_argument('reference')
    p = sub.add_parser('summary')
    p.add_argument('work')
    p.add_argument('out')
    p.add_argument('--setting', action='append', default=[],
                   metavar='KEY=VALUE')
    args = parser.parse_args(argv)

    if args.command == 'classify':
        stack = dict(s.split('=', 1) for s in args.stack)
        manifest = classify(args.src, args.dst, args.python_version,
                            args.full, args.platform, stack,
                            [n for n in args.skip.split(',') if n])
        for entry in manifest['skipped']:
            print(f'  skipped: {entry["name"]} {entry["version"]} (--skip)')
        for entry in manifest['expected']:
            print(f'  left out: {entry["name"]} {entry["version"]} '
                  f'({entry["why"]})')
        print(f'  bundled: {len(manifest["bundled"])} files')
    elif args.command == 'requirements':
        print('\n'.join(read_requirement_names(
            args.files, [n for n in args.skip.split(',') if n])))
    elif args.command == 'install-specs':
        print('\n'.join(install_specs(load_manifest(args.dir), args.pin)))
    elif args.command == 'check-target':
        problems = check_target(load_manifest(args.dir))
        for problem in problems:
            print(f'error: {problem}', file=sys.stderr)
        return 1 if problems else 0
    elif args.command == 'check-imports':
        allow = [m for m in args.allow_missing.split(',') if m]
        result = check_imports(args.cpu, allow, args.mmcv_version)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
        if not result['ok']:
            print(f'[imports] failed: {", ".join(result["failed"])}',
                  file=sys.stderr)
        return 0 if result['ok'] else 1
    elif args.command == 'geotiff':
        start = time.perf_counter()
        paths = write_geotiff_pair(args.dir, args.size)
        print(f'wrote {paths} ({args.size}x{args.size}) in '
              f'{time.perf_counter() - start:.1f} s')
    elif args.command == 'predict-check':
        print('PREDICT_CHECK ' + json.dumps(predict_check(args.out,
                                                          args.reference)))
    elif args.command == 'summary':
        settings = dict(s.split('=', 1) for s in args.setting)
        summary = summarize(args.work, settings)
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        with open(osp.join(args.out, 'summary.md'), 'w') as f:
            f.write(summary_markdown(summary, args.work))
        print(summary_markdown(summary, args.work).split('\n## ')[0])
    return 0


def run(argv=None) -> int:
    """:func:`main`, with a :class:`PrepareError` as one error line."""
    try:
        return main(argv)
    except PrepareError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(run())
