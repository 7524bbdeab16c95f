"""GAN Gallery: serve every registered application as a tab of one page.

    python app.py                       # all tabs on http://127.0.0.1:7860
    python app.py --demo digits         # a subset (repeat --demo)
    python app.py --host 0.0.0.0 --port 8080 --share
"""
from core.runtime import configure_process

configure_process()  # before anything imports paddle

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def parse_args(argv=None):
    from core.apps import apps

    names = [a.name for a in apps()]
    parser = argparse.ArgumentParser(description="Serve the GAN Gallery.")
    parser.add_argument("--demo", action="append", choices=names, metavar="NAME", help=f"serve only this application (repeatable): {', '.join(names)}")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public share link")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from demos.gallery import launch

    launch(names=args.demo, host=args.host, port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
