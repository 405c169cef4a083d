"""GAN Studio in the browser: ``python app.py`` locally, and unchanged as a Hugging Face Space."""

import argparse
import os

from ganstudio.registry import Registry
from ganstudio.ui import DEFAULT_CONCURRENCY, QUEUE_SIZE, build_app, launch_options

in_space = bool(os.environ.get("SPACE_ID"))
parser = argparse.ArgumentParser(description="Serve GAN Studio's web UI and API.")
parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if in_space else "127.0.0.1"))
parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
parser.add_argument("--share", action="store_true", help="also serve through a temporary public *.gradio.live link")
parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="networks running at once (all users)")
args = parser.parse_args()

# A public Space lets anyone import and fine-tune: keep at most 20 user models there unless told otherwise.
max_user_models = int(os.environ.get("GANSTUDIO_MAX_USER_MODELS", "20" if in_space else "0"))
app = build_app(Registry(max_user_models=max_user_models)).queue(default_concurrency_limit=args.concurrency, max_size=QUEUE_SIZE)
app.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="50mb", **launch_options())
