"""python -m spaces build NAME|all OUTDIR   |   python -m spaces deploy NAME|all --repo-id USER/SPACE"""
import argparse
import sys

from spaces.build import GALLERY, build, deploy


def main(argv=None) -> int:
    from core.apps import apps

    names = [a.name for a in apps()] + [GALLERY]
    parser = argparse.ArgumentParser(prog="python -m spaces", description="Hugging Face Spaces for the gallery's applications.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write a Space folder (no network needed)")
    b.add_argument("name", choices=names)
    b.add_argument("out_dir")
    d = sub.add_parser("deploy", help="create the Space and upload the folder with huggingface_hub")
    d.add_argument("name", choices=names)
    d.add_argument("--repo-id", required=True, help="USER/SPACE")
    d.add_argument("--token", help="Hugging Face token (default: the logged-in one or HF_TOKEN)")
    d.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(args.name, args.out_dir))
    else:
        print(deploy(args.name, args.repo_id, token=args.token, private=args.private))
    return 0


if __name__ == "__main__":
    sys.exit(main())
