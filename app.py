"""GAN Studio in the browser: ``python app.py`` locally, and unchanged as a Hugging Face Space."""

import argparse
import os

from ganstudio.policy import Policy
from ganstudio.registry import Registry
from ganstudio.ui import DEFAULT_CONCURRENCY, QUEUE_SIZE, build_app, launch_options

in_space = bool(os.environ.get("SPACE_ID"))
parser = argparse.ArgumentParser(description="Serve GAN Studio's web UI and API.")
parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if in_space else "127.0.0.1"))
parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
parser.add_argument("--share", action="store_true", help="also serve through a temporary public *.gradio.live link")
parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="networks running at once (all users)")
mode = parser.add_mutually_exclusive_group()
mode.add_argument("--public", action="store_true", default=None, help="strangers can call it: quotas, models per visitor "
                  "(the default in a Hugging Face Space, or with GANSTUDIO_PUBLIC=1)")
mode.add_argument("--private", dest="public", action="store_false", help="your own machine: every feature, no quotas")
args = parser.parse_args()

policy = Policy.from_environment(public=args.public)
print(f"GAN Studio, {policy.describe()}", flush=True)
app = build_app(Registry(policy=policy)).queue(default_concurrency_limit=args.concurrency, max_size=QUEUE_SIZE)
app.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="50mb", **launch_options())
