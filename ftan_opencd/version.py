__version__ = '0.1.0'


def parse_version_info(version_str):
    """Parse '0.1.0' into (0, 1, 0); pre-release tags are kept as strings."""
    return tuple(int(x) if x.isdigit() else x for x in version_str.split('.'))


version_info = parse_version_info(__version__)
