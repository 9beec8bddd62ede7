"""Equiformer: equivariant graph attention transformer (Liao & Smidt, ICLR 2023)."""

from .attention import DotProductGraphAttention, MLPGraphAttention
from .block import FeedForward, TransformerBlock
from .config import EquiformerConfig
from .model import Equiformer

__all__ = ["DotProductGraphAttention", "Equiformer", "EquiformerConfig", "FeedForward", "MLPGraphAttention",
           "TransformerBlock"]
