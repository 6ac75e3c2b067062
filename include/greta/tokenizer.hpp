#pragma once
/// @file Umbrella for greta/tokenizer: SentencePiece-BPE vocabularies, encode/decode, streaming.
#include <greta/tokenizer/vocab.hpp>
#include <greta/tokenizer/utf8.hpp>
#include <greta/tokenizer/protobuf.hpp>
#include <greta/tokenizer/sentencepiece_model.hpp>
#include <greta/tokenizer/gguf_vocab.hpp>
#include <greta/tokenizer/load_vocab.hpp>
#include <greta/tokenizer/tokenizer.hpp>
#include <greta/tokenizer/stream_decoder.hpp>
#include <greta/tokenizer/sentencepiece_adapter.hpp>
