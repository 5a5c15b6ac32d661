//! Ideation with OpenAI chat completions and a strict JSON-schema response
//! format. The model's answer is validated again with our own rules: the
//! schema cannot enforce lengths or Etsy's tag alphabet.

use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::types::chat::{ResponseFormat, ResponseFormatJsonSchema};
use pod_events::domain::listing_text::Tag;
use serde::Deserialize;
use serde_json::json;

use super::{IdeaDraft, IdeaProvider, IdeaRequest, Ideas};
use crate::openai::{OpenAi, token_cost};
use crate::provider::ProviderError;

const STYLES: [&str; 6] = ["varsity", "retro", "stamp", "groovy", "script", "classic"];

/// The JSON Schema the model must answer in.
pub fn ideas_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["ideas"],
        "properties": {
            "ideas": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["phrase", "product_type", "style", "audience", "tags"],
                    "properties": {
                        "phrase": {"type": "string", "description": "The words printed on the product, 2–8 words"},
                        "product_type": {"type": "string"},
                        "style": {"type": "string", "enum": STYLES},
                        "audience": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}, "description": "Up to 13 Etsy tags, each at most 20 characters"}
                    }
                }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct Answer {
    ideas: Vec<RawIdea>,
}

#[derive(Debug, Deserialize)]
struct RawIdea {
    phrase: String,
    product_type: String,
    style: String,
    audience: String,
    tags: Vec<String>,
}

/// Checks and cleans the model's ideas: phrases of sensible length, known
/// styles and product types, tags coerced into Etsy's rules.
pub fn validate(req: &IdeaRequest, content: &str) -> Result<Vec<IdeaDraft>, ProviderError> {
    let answer: Answer = serde_json::from_str(content)
        .map_err(|e| ProviderError::permanent(format!("the model's answer does not follow the schema: {e}")))?;
    let mut out = Vec::new();
    for raw in answer.ideas.into_iter().take(req.count) {
        let phrase = raw.phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        let len = phrase.chars().count();
        if len == 0 || len > 80 {
            continue;
        }
        let product_type = if req.product_types.contains(&raw.product_type) {
            raw.product_type
        } else {
            req.product_types.first().cloned().unwrap_or_else(|| "t-shirt".into())
        };
        let style = if STYLES.contains(&raw.style.as_str()) { raw.style } else { "classic".into() };
        let mut tags: Vec<String> = Vec::new();
        for t in raw.tags.iter().filter_map(|t| Tag::coerce(t)) {
            if !tags.iter().any(|x| x == t.as_str()) && tags.len() < 13 {
                tags.push(t.as_str().to_owned());
            }
        }
        out.push(IdeaDraft { phrase, niche: req.niche.clone(), product_type, style, audience: raw.audience, tags });
    }
    if out.is_empty() {
        return Err(ProviderError::permanent("the model proposed no usable idea"));
    }
    Ok(out)
}

pub struct OpenAiIdeas {
    api: OpenAi,
}

impl OpenAiIdeas {
    pub fn new(api: OpenAi) -> Self {
        Self { api }
    }
}

#[async_trait::async_trait]
impl IdeaProvider for OpenAiIdeas {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn paid(&self) -> bool {
        true
    }

    async fn ideas(&self, req: &IdeaRequest) -> Result<Ideas, ProviderError> {
        let bad = |e: async_openai::error::OpenAIError| ProviderError::permanent(format!("building the request: {e}"));
        let system = ChatCompletionRequestSystemMessageArgs::default()
            .content(
                "You create print-on-demand product ideas for an Etsy shop. Phrases are short, original and \
                 positive; never use brand names, characters, teams, celebrities or other protected terms. \
                 Tags are what buyers type into Etsy search.",
            )
            .build()
            .map_err(bad)?;
        let user = ChatCompletionRequestUserMessageArgs::default()
            .content(format!(
                "Trend keyword: {kw:?}. Niche: {niche}. Products: {products}. Propose {n} distinct ideas.{again}",
                kw = req.keyword,
                niche = req.niche,
                products = req.product_types.join(", "),
                n = req.count,
                again = if req.round == 0 {
                    String::new()
                } else {
                    format!(
                        " This is round {} for this trend: the obvious ideas were taken, so take less obvious angles.",
                        req.round + 1
                    )
                }
            ))
            .build()
            .map_err(bad)?;
        let request = CreateChatCompletionRequestArgs::default()
            .model(self.api.settings.chat_model.clone())
            .messages(vec![system.into(), user.into()])
            .response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: Some("Product ideas for one trend".into()),
                    name: "product_ideas".into(),
                    schema: ideas_schema(),
                    strict: Some(true),
                },
            })
            .build()
            .map_err(bad)?;
        let response = self.api.call("OpenAI chat", self.api.client.chat().create(request)).await?;
        let cost = response
            .usage
            .as_ref()
            .map(|u| {
                token_cost(u.prompt_tokens as u64, self.api.settings.chat_input_micros_per_mtok)
                    + token_cost(u.completion_tokens as u64, self.api.settings.chat_output_micros_per_mtok)
            })
            .unwrap_or(0);
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| ProviderError::permanent("the model answered without content"))?;
        Ok(Ideas { drafts: validate(req, &content)?, model: Some(response.model), cost_micros: cost })
    }
}
