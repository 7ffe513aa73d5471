//! A small BERT encoder in candle ops (post-LayerNorm blocks, exact-erf GELU, mean
//! pooling and L2 normalisation: sentence-transformers' all-MiniLM-L6-v2 pipeline)
//! whose linear layers are whatever [`Module`] the caller builds for each of them:
//! candle's dense `Linear` or sparse24's [`crate::SparseLinear`].

use std::collections::HashMap;

use candle_core::{DType, Module, Tensor, D};
use candle_nn::LayerNorm;
use serde_json::Value;
use sparse24::Activation;

/// A linear layer of the model: input [.., in] → output [.., out], activation
/// included.
pub type LinearLayer = Box<dyn Module + Send + Sync>;

/// The shape of a BERT encoder (what `config.json` says).
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Width of the hidden states.
    pub hidden: usize,
    /// Number of encoder blocks.
    pub layers: usize,
    /// Attention heads per block (`hidden` is a multiple of it).
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Positions the position embedding has.
    pub max_positions: usize,
    /// The LayerNorms' epsilon.
    pub layer_norm_eps: f64,
}

impl BertConfig {
    /// all-MiniLM-L6-v2: 6 blocks, hidden 384, 12 heads, intermediate 1536.
    pub fn minilm_l6() -> BertConfig {
        BertConfig {
            hidden: 384,
            layers: 6,
            heads: 12,
            intermediate: 1536,
            max_positions: 512,
            layer_norm_eps: 1e-12,
        }
    }

    /// Parses a Hugging Face `config.json` of a BERT model with exact GELU.
    pub fn from_json(text: &str) -> candle_core::Result<BertConfig> {
        let bad = |what: String| candle_core::Error::Msg(format!("config.json: {what}"));
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let size = |key: &str| -> candle_core::Result<usize> {
            v[key]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| bad(format!("{key} is {}, expected a positive integer", v[key])))
        };
        if v["hidden_act"] != "gelu" {
            return Err(bad(format!(
                "hidden_act {}, expected \"gelu\" (exact)",
                v["hidden_act"]
            )));
        }
        let cfg = BertConfig {
            hidden: size("hidden_size")?,
            layers: size("num_hidden_layers")?,
            heads: size("num_attention_heads")?,
            intermediate: size("intermediate_size")?,
            max_positions: size("max_position_embeddings")?,
            layer_norm_eps: v["layer_norm_eps"].as_f64().unwrap_or(1e-12),
        };
        if !cfg.hidden.is_multiple_of(cfg.heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of the {} heads",
                cfg.hidden, cfg.heads
            )));
        }
        Ok(cfg)
    }

    /// The names (without `.weight`/`.bias`) of every linear layer of the encoder,
    /// with the activation that follows it, in forward order.
    pub fn linear_layers(&self) -> Vec<(String, Activation)> {
        let mut out = Vec::with_capacity(6 * self.layers);
        for b in 0..self.layers {
            for (suffix, act) in BLOCK_LINEARS {
                out.push((format!("encoder.layer.{b}.{suffix}"), act));
            }
        }
        out
    }
}

/// The linear layers of one block by name suffix, and their activations.
const BLOCK_LINEARS: [(&str, Activation); 6] = [
    ("attention.self.query", Activation::None),
    ("attention.self.key", Activation::None),
    ("attention.self.value", Activation::None),
    ("attention.output.dense", Activation::None),
    ("intermediate.dense", Activation::GeluErf),
    ("output.dense", Activation::None),
];

/// candle's dense linear layer with the activation after it.
pub struct DenseLinear {
    linear: candle_nn::Linear,
    activation: Activation,
}

impl DenseLinear {
    /// `act(x · weightᵀ + bias)`; the activation is None or GeluErf.
    pub fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        if !matches!(activation, Activation::None | Activation::GeluErf) {
            candle_core::bail!(
                "DenseLinear applies no activation or exact GELU, not {activation:?}"
            );
        }
        Ok(DenseLinear {
            linear: candle_nn::Linear::new(weight, bias),
            activation,
        })
    }

    /// The layer `{prefix}.weight`, `{prefix}.bias` of `tensors`.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let w = get(tensors, &format!("{prefix}.weight"))?;
        let b = tensors.get(&format!("{prefix}.bias")).cloned();
        Self::new(w, b, activation)
    }
}

impl Module for DenseLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.linear.forward(x)?;
        match self.activation {
            Activation::GeluErf => y.gelu_erf(),
            _ => Ok(y),
        }
    }
}

fn get(tensors: &HashMap<String, Tensor>, name: &str) -> candle_core::Result<Tensor> {
    tensors
        .get(name)
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg(format!("{name}: missing from the checkpoint")))
}

fn layer_norm(
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    eps: f64,
) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        get(tensors, &format!("{prefix}.weight"))?,
        get(tensors, &format!("{prefix}.bias"))?,
        eps,
    ))
}

struct Block {
    query: LinearLayer,
    key: LinearLayer,
    value: LinearLayer,
    attn_out: LinearLayer,
    attn_norm: LayerNorm,
    intermediate: LinearLayer,
    output: LinearLayer,
    out_norm: LayerNorm,
}

/// A BERT encoder with sentence-embedding pooling.
pub struct Bert {
    cfg: BertConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embed_norm: LayerNorm,
    blocks: Vec<Block>,
}

impl Bert {
    /// Builds the model from the non-linear tensors in `tensors` (Hugging Face BERT
    /// names: `embeddings.*`, `encoder.layer.N.*.LayerNorm.*`) and one module per
    /// linear layer from `linear(name, activation)` (names from
    /// [`BertConfig::linear_layers`]).
    pub fn new(
        cfg: BertConfig,
        tensors: &HashMap<String, Tensor>,
        linear: &mut dyn FnMut(&str, Activation) -> candle_core::Result<LinearLayer>,
    ) -> candle_core::Result<Bert> {
        let eps = cfg.layer_norm_eps;
        let mut blocks = Vec::with_capacity(cfg.layers);
        for b in 0..cfg.layers {
            let p = format!("encoder.layer.{b}");
            let mut lins = Vec::with_capacity(BLOCK_LINEARS.len());
            for (suffix, act) in BLOCK_LINEARS {
                lins.push(linear(&format!("{p}.{suffix}"), act)?);
            }
            let Ok([query, key, value, attn_out, intermediate, output]) =
                <[LinearLayer; 6]>::try_from(lins)
            else {
                candle_core::bail!("{p}: expected six linear layers");
            };
            blocks.push(Block {
                query,
                key,
                value,
                attn_out,
                intermediate,
                output,
                attn_norm: layer_norm(tensors, &format!("{p}.attention.output.LayerNorm"), eps)?,
                out_norm: layer_norm(tensors, &format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let position = get(tensors, "embeddings.position_embeddings.weight")?;
        let (positions, width) = position.dims2()?;
        if width != cfg.hidden || positions < cfg.max_positions {
            candle_core::bail!(
                "embeddings.position_embeddings.weight is {:?}, expected [{}, {}]",
                position.dims(),
                cfg.max_positions,
                cfg.hidden
            );
        }
        Ok(Bert {
            word: get(tensors, "embeddings.word_embeddings.weight")?,
            position,
            token_type: get(tensors, "embeddings.token_type_embeddings.weight")?,
            embed_norm: layer_norm(tensors, "embeddings.LayerNorm", eps)?,
            blocks,
            cfg,
        })
    }

    /// A model with candle's dense linear layers, all from `tensors`.
    pub fn dense(cfg: BertConfig, tensors: &HashMap<String, Tensor>) -> candle_core::Result<Bert> {
        Self::new(cfg, tensors, &mut |name, act| {
            Ok(Box::new(DenseLinear::from_tensors(tensors, name, act)?) as LinearLayer)
        })
    }

    /// The last hidden states [batch, seq, hidden] of token ids [batch, seq] (u32)
    /// with attention mask [batch, seq] (1 for tokens, 0 for padding, in the
    /// model's dtype).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        if seq > self.cfg.max_positions {
            candle_core::bail!(
                "{seq} tokens, the model has {} positions",
                self.cfg.max_positions
            );
        }
        let dev = ids.device();
        let word = self.word.index_select(&ids.flatten_all()?, 0)?.reshape((
            batch,
            seq,
            self.cfg.hidden,
        ))?;
        let pos = self.position.narrow(0, 0, seq)?;
        let token_type = self.token_type.narrow(0, 0, 1)?;
        let x = word.broadcast_add(&pos)?.broadcast_add(&token_type)?;
        let mut h = self.embed_norm.forward(&x)?;
        // Padding gets a large negative score before the softmax (finite, so f16
        // holds it too).
        let bias = ((mask.to_dtype(h.dtype())? - 1.0)? * 10_000.0)?
            .reshape((batch, 1, 1, seq))?
            .to_device(dev)?;
        for b in &self.blocks {
            h = self.block(b, &h, &bias)?;
        }
        Ok(h)
    }

    fn block(&self, b: &Block, h: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, seq, hidden) = h.dims3()?;
        let heads = self.cfg.heads;
        let hd = hidden / heads;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, seq, heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(b.query.forward(h)?)?;
        let k = split(b.key.forward(h)?)?;
        let v = split(b.value.forward(h)?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch, seq, hidden))?;
        let a = b.attn_norm.forward(&(b.attn_out.forward(&ctx)? + h)?)?;
        let m = b.intermediate.forward(&a)?;
        b.out_norm.forward(&(b.output.forward(&m)? + a)?)
    }

    /// Sentence embeddings [sentences, hidden]: each sentence's token ids (from
    /// [`crate::WordPiece::encode`]) padded into one batch, the hidden states
    /// mean-pooled over its tokens and L2-normalised. Computed in the dtype and on
    /// the device of the model's embeddings, returned in f32.
    pub fn embed(&self, sentences: &[Vec<u32>]) -> candle_core::Result<Tensor> {
        let (dtype, device) = (self.word.dtype(), self.word.device());
        let seq = sentences.iter().map(Vec::len).max().unwrap_or(0);
        if sentences.is_empty() || seq == 0 {
            candle_core::bail!("nothing to embed: no sentences or no tokens");
        }
        let mut ids = Vec::with_capacity(sentences.len() * seq);
        let mut mask = Vec::with_capacity(sentences.len() * seq);
        for s in sentences {
            ids.extend(
                s.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, seq - s.len())),
            );
            mask.extend((0..seq).map(|i| if i < s.len() { 1f32 } else { 0f32 }));
        }
        let shape = (sentences.len(), seq);
        let ids = Tensor::from_vec(ids, shape, device)?;
        let mask = Tensor::from_vec(mask, shape, device)?;
        let h = self
            .forward(&ids, &mask.to_dtype(dtype)?)?
            .to_dtype(DType::F32)?;
        let summed = h.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let pooled = summed.broadcast_div(&mask.sum_keepdim(1)?)?;
        let norm = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        pooled.broadcast_div(&norm)
    }
}
