"""EPT, the Equivariant Pretrained Transformer (Jiao et al.): one block-based model for small
molecules and proteins.

Modules: :mod:`.config` (EPTConfig), :mod:`.edges` (block edges, k nearest atom pairs),
:mod:`.embedding` (graph embedding layer), :mod:`.layers` (attention, GVP feed-forward),
:mod:`.dense` (padded batches, attention bias), :mod:`.backbone`, :mod:`.heads`, :mod:`.model`.
Blocks and vocabularies live in :mod:`equiformers.data.blocks`.

Deviations from the official code (jiaor17/EPT 481a550), each deliberate:

* Block table of 150 rows (the whole vocabulary) by default; ``num_block_types: 142`` is the
  official size (for its checkpoints) and then refuses nucleotide blocks instead of overflowing.
* Global blocks are added inside the model (one per structure and segment, at the centroid of the
  segment's current coordinates) instead of being stored in the data; the official code recomputes
  their position after every noising step, so the inputs are the same.
* Atom pairs: ties among the k nearest atoms are broken by atom index (deterministic); the self
  pair (i, i) is implicit in records (a zero-length edge means overlapping atoms elsewhere in the
  library) and added back by the model.
* The attention's distance term is not detached (the official code detaches it): gradient forces
  are then the true -dE/dx. Norms use a zero-safe square root so second derivatives stay finite
  at zero vectors (self pairs, isolated atoms).
* Attention runs through ``torch.nn.functional.scaled_dot_product_attention`` with the additive
  bias built one layer at a time (the official code materialises [L, B, 1, N, N]).
* ``local_mask`` leaves the rows and columns of every global atom open (the official code opens
  row and column 0, which is the first segment's global atom in its layout).
* Only pre-norm is implemented (every released config); the IEConv adapter (EC task only) is not.
* Periodic structures are refused (no periodic images in EPT).
* Block-level denoising pretraining is a task (:mod:`equiformers.tasks.denoising`, which lists its
  own deviations: correct inertia tensor, Leach's IGSO(3) convention, guarded solve).
"""

from .config import EPTConfig
from .model import EPT

__all__ = ["EPT", "EPTConfig"]
