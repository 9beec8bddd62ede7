"""The se3-transformer-pytorch side of table2.py (runs in ``.se3tp-venv``; imports no equiformers code).

Matched to our ``se3-transformer-pdbbind-original`` preset: 3 blocks, degrees 0-2, 16 channels, 4 heads
(``dim_head`` 4, i.e. 16 value channels in all; ours has 8 with ``channels_div`` 2), atom-type tokens for
the same 10 elements, the covalent flag (< 1.5 Å) as 2 edge tokens, and neighbours within 4.5 Å (the
library takes the ``num_neighbors`` nearest atoms of each atom, masked by ``valid_radius``; we set
``num_neighbors`` to the largest neighbour count within 4.5 Å so that no edge is lost). Output: degree-0
features of every atom (its transformer; our row includes our small pooled head as well).
"""

import torch


def reference_worker(inputs: str, repeats: int, threads: int) -> dict:
    from se3_transformer_pytorch import SE3Transformer

    torch.set_num_threads(threads)
    data = torch.load(inputs, weights_only=True)
    pos = data["positions"].float()
    distance = torch.cdist(pos, pos)
    within = (distance < 4.5) & ~torch.eye(len(pos), dtype=torch.bool)
    edges = (distance < 1.5).long()
    torch.manual_seed(0)
    model = SE3Transformer(dim=16, heads=4, dim_head=4, depth=3, num_degrees=3, input_degrees=1, output_degrees=1,
                           num_tokens=10, num_edge_tokens=2, edge_dim=2, valid_radius=4.5,
                           num_neighbors=int(within.sum(1).max()), reduce_dim_out=False).eval()
    params = sum(p.numel() for p in model.parameters())
    feats, coors = data["types"][None], pos[None]
    mask = torch.ones(1, len(pos), dtype=torch.bool)
    from table2 import measure  # the same timing and memory meter as ours

    return measure(lambda: model(feats, coors, mask, edges=edges[None], return_type=0), repeats) | {
        "params": params, "edges": int(within.sum())}
