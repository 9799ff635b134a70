//! The handlebars registry of every HTML page and document: templates are compiled into the
//! binary and registered once, in strict mode, so the CLI and the web render alike.

pub mod pdf;
pub mod typography;

use handlebars::Handlebars;
use include_dir::{Dir, include_dir};
use serde::Serialize;
use thiserror::Error;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The suffix of template files; a template's name is its path without it (`web/login`).
const SUFFIX: &str = ".html.hbs";

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("modèle `{name}` invalide : {message}")]
    Template { name: String, message: String },
    #[error("rendu de `{name}` impossible : {message}")]
    Render { name: String, message: String },
}

/// How a document gets its style sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `<link>` to `/assets/registre.css`: pages of the web service.
    Linked,
    /// `<style>` in the page: files written by the CLI.
    Inline,
}

/// Every template, ready to render. Cheap to share: build once.
pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    pub fn builtin() -> Result<Self, RenderError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.set_dev_mode(false);
        let mut files = Vec::new();
        collect(&TEMPLATES, &mut files);
        for (name, text) in files {
            registry
                .register_template_string(&name, text)
                .map_err(|e| RenderError::Template {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { registry })
    }

    /// Renders template `name` with `data`; HTML-escapes every `{{value}}`.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, RenderError> {
        self.registry
            .render(name, data)
            .map_err(|e| RenderError::Render {
                name: name.to_owned(),
                message: e.to_string(),
            })
    }

    /// Renders a citizen document (`templates/notice/…`) with its style sheet linked, for
    /// the web, or inlined, for a file that must stand alone.
    pub fn document<T: Serialize>(
        &self,
        name: &str,
        model: &T,
        style: Style,
    ) -> Result<String, RenderError> {
        let mut data = serde_json::to_value(model).map_err(|e| RenderError::Render {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(fields) = data.as_object_mut() {
            let css = match style {
                Style::Inline => Self::asset("registre.css"),
                Style::Linked => None,
            };
            fields.insert("style".to_owned(), css.into());
        }
        self.render(name, &data)
    }

    /// A binary file shipped with the templates (a font), by path under `templates/`.
    pub fn file(path: &str) -> Option<&'static [u8]> {
        TEMPLATES.get_file(path).map(|f| f.contents())
    }

    /// A static file shipped with the templates (the style sheet), by path.
    pub fn asset(path: &str) -> Option<&'static str> {
        TEMPLATES
            .get_file(format!("assets/{path}"))?
            .contents_utf8()
    }
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static str)>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy();
        if let (Some(name), Some(text)) = (path.strip_suffix(SUFFIX), file.contents_utf8()) {
            out.push((name.to_owned(), text));
        }
    }
    for sub in dir.dirs() {
        collect(sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_compiles_and_values_are_escaped() {
        let templates = Templates::builtin().unwrap();
        let html = templates
            .render(
                "web/error",
                &json!({ "title": "<script>alert(1)</script>", "message": "{{x}}", "status": 404 }),
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("lang=\"fr\""));
        assert!(Templates::asset("registre.css").is_some());
    }
}
