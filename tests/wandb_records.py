"""The W&B run file reader, for tests (``ganlab.wandb_files``)."""

from ganlab.wandb_files import history, logged_images, records, summary, wait_until_complete

__all__ = ["history", "logged_images", "records", "summary", "wait_until_complete"]
