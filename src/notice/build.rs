//! The notice of one activity, item by item of RGPD art. 13 and 14 (LEGAL.md §2).

use crate::model::{Activity, ActivitySource, Organisation, Source};
use crate::vocabulary::Kind;

use super::rights::{Right, RightHolds, rights_of};
use super::sections::{
    Gaps, WITHDRAWAL_GAP, contact, controller, dpo, exercise, withdrawal_sentence,
};
use super::{
    Block, Context, Item, Named, Notice, NoticeError, Section, Version, notice_path,
    retention_in_words, typeset,
};
use crate::render::typography::{lowercase_first, uppercase_first};

/// The notice of `activity`, held by `organisation`.
pub fn notice(
    context: &Context,
    organisation: &Organisation,
    activity: &Activity,
) -> Result<Notice, NoticeError> {
    let mut builder = Builder::new(context, organisation, activity)?;
    let mut sections = vec![
        builder.controller(),
        builder.dpo(),
        builder.purposes(),
        builder.legal_basis(),
        builder.data(),
    ];
    sections.extend(builder.origin());
    sections.extend([
        builder.recipients(),
        builder.transfers(),
        builder.retention(),
        builder.automated_decision(),
        builder.rights(),
    ]);
    typeset(&mut sections);
    let articles = builder.articles();
    let link = context.link(&notice_path(&organisation.id, &activity.id));
    let mention = builder.mention(&link);
    let mut notice = Notice {
        organisation: Named::of_organisation(organisation),
        activity: Named::of_activity(activity),
        title: format!("Vos données personnelles : {}", activity.name),
        articles,
        intro: intro(organisation, articles),
        sections,
        mention,
        link,
        missing: builder.gaps.missing,
        version: Version::default(),
    };
    notice.title = crate::render::typography::french(&notice.title);
    notice.version = Version::of("notice", &notice);
    Ok(notice)
}

fn intro(organisation: &Organisation, articles: &str) -> String {
    crate::render::typography::french(&format!(
        "{} vous informe sur l'utilisation de vos données personnelles, comme le prévoit le \
         règlement général sur la protection des données (RGPD, art. {articles}).",
        organisation.name
    ))
}

/// What every section needs, and the gaps found so far.
struct Builder<'a> {
    context: &'a Context<'a>,
    organisation: &'a Organisation,
    activity: &'a Activity,
    gaps: Gaps,
}

impl<'a> Builder<'a> {
    fn new(
        context: &'a Context<'a>,
        organisation: &'a Organisation,
        activity: &'a Activity,
    ) -> Result<Self, NoticeError> {
        if activity.role() == crate::model::Role::Processor {
            return Err(NoticeError::Processor {
                activity: activity.id.clone(),
                controller: activity
                    .on_behalf_of
                    .as_ref()
                    .map_or_else(|| "un autre responsable".to_owned(), |p| p.name.clone()),
            });
        }
        Ok(Builder {
            context,
            organisation,
            activity,
            gaps: Gaps::of_activity(activity),
        })
    }

    fn label(&self, kind: Kind, id: &'a str) -> &'a str {
        self.context.vocabulary.label(kind, id)
    }

    fn gap(&mut self, field: &str, information: &str) -> Block {
        self.gaps.gap(field, information)
    }

    fn legal_basis_id(&self) -> Option<&'a str> {
        self.activity.legal_basis.as_deref()
    }

    fn is_consent(&self) -> bool {
        self.activity.is_consent_based()
    }

    /// Data not collected from the person (art. 14): taken from another activity or received
    /// from an outside body.
    fn indirect_sources(&self) -> impl Iterator<Item = &'a Source> + use<'a> {
        self.activity
            .sources()
            .iter()
            .filter(|s| !matches!(s, Source::Person(_)))
    }

    /// Data collected from the person (art. 13). A register that does not say where the
    /// data come from is read as collecting them from the person, and the gap is reported.
    fn collects_from_person(&self) -> bool {
        let sources = self.activity.sources();
        sources.is_empty() || sources.iter().any(|s| matches!(s, Source::Person(_)))
    }

    fn articles(&self) -> &'static str {
        match (
            self.collects_from_person(),
            self.indirect_sources().next().is_some(),
        ) {
            (true, true) => "13 et 14",
            (false, true) => "14",
            _ => "13",
        }
    }

    fn controller(&mut self) -> Section {
        controller(
            self.organisation,
            self.activity.joint_controllers(),
            &mut self.gaps,
        )
    }

    fn dpo(&mut self) -> Section {
        dpo(self.organisation, &mut self.gaps)
    }

    fn purposes(&mut self) -> Section {
        let purposes = self.activity.purposes();
        let mut blocks = Vec::new();
        if purposes.is_empty() {
            blocks.push(self.gap("purposes", "les finalités du traitement"));
        } else {
            blocks.push(Block::paragraph("Vos données sont utilisées pour :"));
            blocks.push(Block::list(
                purposes
                    .iter()
                    .map(|p| Item::text(self.label(Kind::Purpose, p)))
                    .collect(),
            ));
        }
        if let Some(description) = self.activity.description.as_ref() {
            blocks.push(Block::paragraph(description));
        }
        Section {
            id: "finalites",
            heading: "Pourquoi vos données sont-elles utilisées ?".to_owned(),
            blocks,
        }
    }

    fn legal_basis(&mut self) -> Section {
        let organisation = &self.organisation.name;
        let text = self.activity.legal_basis_text.clone();
        let mut blocks = Vec::new();
        match self.legal_basis_id() {
            None => blocks.push(self.gap("legal_basis", "la base légale du traitement")),
            Some(basis) => {
                let article = self
                    .context
                    .vocabulary
                    .term(Kind::LegalBasis, basis)
                    .and_then(|t| t.article.as_deref())
                    .unwrap_or("6.1");
                let sentence = match basis {
                    "consentement" => "Vos données sont traitées avec votre consentement".to_owned(),
                    "contrat" => "Le traitement est nécessaire à l'exécution d'un contrat auquel vous êtes partie, ou de mesures prises à votre demande avant sa conclusion".to_owned(),
                    "obligation-legale" => format!("Le traitement est imposé par la loi à {organisation}"),
                    "interets-vitaux" => "Le traitement est nécessaire à la sauvegarde de vos intérêts vitaux ou de ceux d'une autre personne".to_owned(),
                    "mission-interet-public" => "Le traitement est nécessaire à l'exécution d'une mission d'intérêt public ou relevant de l'exercice de l'autorité publique dont est investi le responsable du traitement".to_owned(),
                    "interet-legitime" => format!("Le traitement est fondé sur l'intérêt légitime poursuivi par {organisation}"),
                    other => self.label(Kind::LegalBasis, other).to_owned(),
                };
                blocks.push(Block::paragraph(format!(
                    "{sentence} (RGPD, art. {article})."
                )));
                // Art. 6.3: a legal obligation or a public task is laid down by a text; art.
                // 13.1.d: the legitimate interests pursued must be stated.
                let needs_text = matches!(
                    basis,
                    "obligation-legale" | "mission-interet-public" | "interet-legitime"
                );
                match (text, basis) {
                    (Some(text), "interet-legitime") => {
                        blocks.push(Block::list(vec![Item::term("Intérêts poursuivis", text)]))
                    }
                    (Some(text), _) => {
                        blocks.push(Block::list(vec![Item::term("Texte de référence", text)]))
                    }
                    (None, "interet-legitime") => blocks
                        .push(self.gap("legal_basis_text", "les intérêts légitimes poursuivis")),
                    (None, _) if needs_text => blocks
                        .push(self.gap("legal_basis_text", "le texte qui fonde le traitement")),
                    (None, _) => {}
                }
            }
        }
        if self.special_categories().next().is_some() {
            match self.activity.special_category_exception.as_deref() {
                Some(exception) => {
                    let term = self
                        .context
                        .vocabulary
                        .term(Kind::SpecialCategoryException, exception);
                    let label = term.map_or(exception, |t| t.label.as_str());
                    let article = term
                        .and_then(|t| t.article.as_deref())
                        .map(|a| format!(" (RGPD, art. {a})"))
                        .unwrap_or_default();
                    blocks.push(Block::paragraph(format!(
                        "Les données sensibles ne sont traitées que sur ce fondement : {}{article}.",
                        lowercase_first(label)
                    )));
                }
                None => blocks.push(self.gap(
                    "special_category_exception",
                    "l'exception de l'article 9 qui permet de traiter des données sensibles",
                )),
            }
        }
        Section {
            id: "base-legale",
            heading: "Sur quelle base légale ?".to_owned(),
            blocks,
        }
    }

    fn special_categories(&self) -> impl Iterator<Item = &'a String> + use<'a> {
        let vocabulary = self.context.vocabulary;
        self.activity
            .data_categories()
            .iter()
            .filter(move |c| vocabulary.is_within(Kind::DataCategory, c, "categorie-particuliere"))
    }

    /// Art. 13.2.e: whether each item is required, and what follows from not giving it. The
    /// register gives one legal basis per activity, so the answer is the same for every
    /// category collected from the person.
    fn data(&mut self) -> Section {
        let categories = self.activity.data_categories();
        let mut blocks = Vec::new();
        if categories.is_empty() {
            blocks.push(self.gap("data_categories", "les catégories de données traitées"));
        }
        if self.activity.sources.is_none() {
            blocks.push(self.gap("sources", "l'origine des données"));
        }
        let collected = self.collects_from_person();
        // Required where the law, a contract or the instruction of a request needs the data;
        // optional under consent. Vital or legitimate interests say neither.
        let status = match self.legal_basis_id() {
            _ if !collected => None,
            Some("consentement") => Some("facultatif"),
            Some("contrat" | "obligation-legale" | "mission-interet-public") => Some("obligatoire"),
            _ => None,
        };
        // Sensitive data under explicit consent (art. 9.2.a) are optional whatever the basis
        // of the rest: they are given only by consenting.
        let explicit =
            self.activity.special_category_exception.as_deref() == Some("consentement-explicite");
        let sensitive: Vec<&String> = self.special_categories().collect();
        let optional = |c: &String| explicit && collected && sensitive.contains(&c);
        if !categories.is_empty() {
            blocks.push(Block::list(
                categories
                    .iter()
                    .map(|c| {
                        let label = self.label(Kind::DataCategory, c);
                        match status {
                            _ if optional(c) => Item::term(label, "facultatif"),
                            Some(status) => Item::term(label, status),
                            None => Item::text(label),
                        }
                    })
                    .collect(),
            ));
        }
        if collected && let Some(consequence) = self.consequence() {
            blocks.push(Block::paragraph(consequence));
        }
        if self.legal_basis_id() != Some("consentement") && categories.iter().any(optional) {
            blocks.push(Block::paragraph(
                "Les données sensibles ne sont recueillies qu'avec votre consentement explicite : sans lui, elles ne sont pas traitées.",
            ));
        }
        Section {
            id: "donnees",
            heading: "Quelles données ?".to_owned(),
            blocks,
        }
    }

    /// The consequence of not giving the data, per legal basis.
    fn consequence(&self) -> Option<String> {
        // Only a register that says consent is not a condition of a service backs the promise
        // that refusing costs nothing (art. 7.4).
        let free = self.activity.consent.as_ref().and_then(|c| c.bundled) == Some(false);
        Some(match self.legal_basis_id()? {
            "consentement" if !free => {
                "Ces données sont facultatives : sans votre consentement, elles ne sont pas traitées.".to_owned()
            }
            "consentement" => "Ces données sont facultatives : sans votre consentement, elles ne sont pas traitées, et refuser ne vous prive d'aucun service.".to_owned(),
            "contrat" => "Ces données sont obligatoires pour conclure le contrat : sans elles, il ne peut être conclu ni exécuté.".to_owned(),
            "obligation-legale" => "Leur fourniture est imposée par la loi : sans elles, la démarche ne peut pas aboutir.".to_owned(),
            "interets-vitaux" => "Ces données sont utilisées pour vous protéger ou protéger une autre personne.".to_owned(),
            "interet-legitime" => "Vous pouvez vous opposer à l'utilisation de ces données (voir vos droits).".to_owned(),
            _ => "Ces données sont nécessaires à l'instruction de votre demande : sans elles, elle ne peut pas être traitée.".to_owned(),
        })
    }

    /// Art. 14.2.f: where the data come from, naming the source's organisation and nature.
    fn origin(&mut self) -> Option<Section> {
        // Art. 13 only: no origin to name.
        self.indirect_sources().next()?;
        let mut items = Vec::new();
        let mut blocks = vec![Block::paragraph(
            "Tout ou partie de ces données n'a pas été recueilli auprès de vous. Elles proviennent de :",
        )];
        // Indexed in the whole list, so that a gap points at its entry of the register.
        for (index, source) in self.activity.sources().iter().enumerate() {
            match source {
                Source::Activity(source) => match self.source_activity(source) {
                    Some(item) => items.push(item),
                    None => blocks.push(self.gap(
                        &format!("sources[{index}]"),
                        &format!("le traitement d'origine « {} »", source.activity),
                    )),
                },
                Source::External(external) => {
                    let mut text = "organisme extérieur".to_owned();
                    if let Some(law) = &external.legal_text {
                        text.push_str(&format!(", qui les transmet en application de : {law}"));
                    }
                    items.push(Item::term(&external.external, text));
                }
                Source::Person(_) => {}
            }
        }
        blocks.insert(1, Block::list(items));
        Some(Section {
            id: "origine",
            heading: "D'où viennent ces données ?".to_owned(),
            blocks,
        })
    }

    /// The source activity named by its organisation and its nature (the activity's name and
    /// the categories taken); `None` when the register does not hold it.
    fn source_activity(&self, source: &ActivitySource) -> Option<Item> {
        let organisation_id = source
            .organisation
            .as_deref()
            .unwrap_or(&self.organisation.id);
        let organisation = if organisation_id == self.organisation.id {
            self.organisation
        } else {
            self.context
                .register
                .organisations
                .iter()
                .find(|o| o.id == organisation_id)?
        };
        let activity = organisation
            .activities()
            .iter()
            .find(|a| a.id == source.activity)?;
        let categories = source
            .categories
            .as_deref()
            .unwrap_or(activity.data_categories());
        let mut text = format!("fichier « {} »", activity.name);
        if !categories.is_empty() {
            let labels: Vec<String> = categories
                .iter()
                .map(|c| lowercase_first(self.label(Kind::DataCategory, c)))
                .collect();
            text.push_str(&format!(" ; données reprises : {}", labels.join(" ; ")));
        }
        Some(Item::term(&organisation.name, text))
    }

    fn recipients(&mut self) -> Section {
        let mut items: Vec<Item> = self
            .activity
            .recipients()
            .iter()
            .map(|r| match &r.kind {
                Some(kind) => Item::term(
                    &r.name,
                    lowercase_first(self.label(Kind::RecipientType, kind)),
                ),
                None => Item::text(&r.name),
            })
            .collect();
        items.extend(self.activity.processors().iter().map(|p| {
            Item::term(
                &p.name,
                format!(
                    "prestataire agissant pour le compte de {} (sous-traitant)",
                    self.organisation.name
                ),
            )
        }));
        let mut blocks = Vec::new();
        if self.activity.recipients.is_none() {
            blocks.push(self.gap("recipients", "les destinataires des données"));
        }
        if items.is_empty() {
            if self.activity.recipients.is_some() {
                blocks.push(Block::paragraph(
                    "Seuls les agents habilités du responsable du traitement ont accès à vos données.",
                ));
            }
        } else {
            blocks.insert(
                0,
                Block::paragraph(
                    "Dans la limite de leurs attributions, vos données sont communiquées à :",
                ),
            );
            blocks.insert(1, Block::list(items));
        }
        Section {
            id: "destinataires",
            heading: "Qui reçoit vos données ?".to_owned(),
            blocks,
        }
    }

    fn transfers(&mut self) -> Section {
        let mut blocks = Vec::new();
        match self.activity.transfers.as_deref() {
            None => blocks.push(self.gap(
                "transfers",
                "si les données sont transférées hors de l'Espace économique européen",
            )),
            Some([]) => blocks.push(Block::paragraph(
                "Vos données ne sont pas transférées en dehors de l'Espace économique européen (Union européenne, Islande, Liechtenstein et Norvège).",
            )),
            Some(transfers) => {
                blocks.push(Block::paragraph(
                    "Vos données sont transférées en dehors de l'Espace économique européen (Union européenne, Islande, Liechtenstein et Norvège) :",
                ));
                let mut items = Vec::new();
                let mut gaps = Vec::new();
                for (index, transfer) in transfers.iter().enumerate() {
                    let country = self
                        .context
                        .countries
                        .get(&transfer.country)
                        .map_or(transfer.country.as_str(), |c| c.name.as_str());
                    let safeguard = match transfer.safeguard.as_deref() {
                        Some("aucune") | None => {
                            gaps.push(index);
                            "sans garantie renseignée".to_owned()
                        }
                        Some(id) => format!(
                            "garantie : {}",
                            lowercase_first(self.label(Kind::TransferSafeguard, id))
                        ),
                    };
                    items.push(Item::term(
                        &transfer.recipient,
                        format!("{country} ; {safeguard}"),
                    ));
                }
                blocks.push(Block::list(items));
                for index in gaps {
                    blocks.push(self.gap(
                        &format!("transfers[{index}].safeguard"),
                        "la garantie encadrant le transfert hors de l'Espace économique européen",
                    ));
                }
            }
        }
        Section {
            id: "transferts",
            heading: "Vos données quittent-elles l'Europe ?".to_owned(),
            blocks,
        }
    }

    fn retention(&mut self) -> Section {
        let vocabulary = self.context.vocabulary;
        let retention = self.activity.retention.as_ref();
        let sentence = retention.and_then(|r| retention_in_words(r, vocabulary));
        let mut blocks = vec![match sentence {
            Some(sentence) => Block::paragraph(format!("Vos données sont conservées {sentence}.")),
            None => self.gap("retention.active", "la durée de conservation"),
        }];
        let per_category = retention.and_then(|r| r.per_category.as_ref());
        let items: Vec<Item> = per_category
            .into_iter()
            .flatten()
            .filter_map(|(category, rule)| {
                let general = retention?;
                let merged = crate::model::Retention {
                    active: rule.active.clone().or_else(|| general.active.clone()),
                    intermediate: rule
                        .intermediate
                        .clone()
                        .or_else(|| general.intermediate.clone()),
                    final_fate: rule
                        .final_fate
                        .clone()
                        .or_else(|| general.final_fate.clone()),
                    start: general.start.clone(),
                    per_category: None,
                };
                let sentence = retention_in_words(&merged, vocabulary)?;
                Some(Item::term(
                    self.label(Kind::DataCategory, category),
                    sentence,
                ))
            })
            .collect();
        if !items.is_empty() {
            blocks.push(Block::paragraph("Avec ces exceptions :"));
            blocks.push(Block::list(items));
        }
        Section {
            id: "conservation",
            heading: "Combien de temps vos données sont-elles conservées ?".to_owned(),
            blocks,
        }
    }

    fn automated_decision(&mut self) -> Section {
        let block = match self.activity.automated_decision {
            Some(false) => Block::paragraph(
                "Aucune décision vous concernant n'est prise sur le seul fondement d'un traitement automatisé.",
            ),
            Some(true) => Block::paragraph(
                "Ce traitement comporte une décision fondée exclusivement sur un traitement automatisé (RGPD, art. 22). Vous pouvez obtenir des informations sur la logique utilisée, demander l'intervention d'un agent, présenter votre point de vue et contester la décision. Pour une décision administrative, les règles du traitement vous sont communiquées à votre demande (code des relations entre le public et l'administration, art. L.311-3-1).",
            ),
            None => self.gap(
                "automated_decision",
                "si une décision automatisée est prise",
            ),
        };
        Section {
            id: "decision-automatisee",
            heading: "Décision automatisée".to_owned(),
            blocks: vec![block],
        }
    }

    fn rights_list(&self) -> Option<Vec<(Right, RightHolds)>> {
        let explicit =
            self.activity.special_category_exception.as_deref() == Some("consentement-explicite");
        rights_of(self.legal_basis_id()?, explicit)
    }

    fn rights(&mut self) -> Section {
        let mut blocks = Vec::new();
        let rights = self.rights_list();
        match &rights {
            None => {
                blocks.push(self.gap("legal_basis", "la base légale, dont dépendent vos droits"))
            }
            Some(rights) => {
                blocks.push(Block::paragraph("Vous disposez des droits suivants :"));
                let items = rights
                    .iter()
                    .filter(|(right, _)| *right != Right::Complaint)
                    .map(|(right, holds)| match holds {
                        RightHolds::Yes => Item::text(uppercase_first(right.label())),
                        RightHolds::When(condition) => {
                            Item::text(format!("{}, {condition}", uppercase_first(right.label())))
                        }
                    })
                    .collect();
                blocks.push(Block::list(items));
            }
        }
        if self.is_consent() {
            blocks.push(self.withdrawal());
        }
        blocks.extend(exercise(self.organisation));
        Section {
            id: "droits",
            heading: "Quels sont vos droits ?".to_owned(),
            blocks,
        }
    }

    fn withdrawal(&mut self) -> Block {
        match withdrawal_sentence(self.context.vocabulary, self.activity) {
            Some(sentence) => Block::paragraph(sentence),
            None => self.gap("consent.withdrawal", WITHDRAWAL_GAP),
        }
    }

    /// The short mention for the bottom of a form (art. 13, first layer of the CNIL's
    /// layered information).
    fn mention(&self, link: &str) -> Vec<String> {
        let organisation = &self.organisation.name;
        let purposes: Vec<&str> = self
            .activity
            .purposes()
            .iter()
            .map(|p| self.label(Kind::Purpose, p))
            .collect();
        let purposes = if purposes.is_empty() {
            "des finalités que le registre ne précise pas".to_owned()
        } else {
            purposes.join(" ; ")
        };
        let mut lines = vec![if self.collects_from_person() {
            format!(
                "Les informations recueillies sur ce formulaire sont enregistrées par {organisation} pour : {}.",
                lowercase_first(&purposes)
            )
        } else {
            format!(
                "Des informations vous concernant sont utilisées par {organisation} pour : {}.",
                lowercase_first(&purposes)
            )
        }];
        if let Some(basis) = self.legal_basis_id() {
            lines.push(format!(
                "Base légale : {}.",
                lowercase_first(self.label(Kind::LegalBasis, basis))
            ));
        }
        if let Some(consequence) = self.consequence().filter(|_| self.collects_from_person()) {
            lines.push(consequence);
        }
        if let Some(sentence) = self
            .activity
            .retention
            .as_ref()
            .and_then(|r| retention_in_words(r, self.context.vocabulary))
        {
            lines.push(format!("Conservation : {sentence}."));
        }
        let rights = self.rights_list().unwrap_or_default();
        let names: Vec<&str> = rights
            .iter()
            .filter(|(r, _)| *r != Right::Complaint)
            .map(|(r, _)| r.short())
            .collect();
        let (who, items) = contact(self.organisation);
        let reach = items
            .first()
            .map(|item| format!(" : {}", item.text))
            .unwrap_or_default();
        let rights = match names.split_last() {
            Some((last, [])) => format!("Vous disposez d'un droit {last}"),
            Some((last, first)) => {
                format!("Vous disposez d'un droit {} et {last}", first.join(", "))
            }
            None => {
                "Vos droits dépendent de la base légale, que le registre ne précise pas".to_owned()
            }
        };
        lines.push(format!(
            "{rights}. Pour les exercer, adressez-vous {who}{reach}. Vous pouvez aussi saisir la CNIL."
        ));
        lines.push(format!("Pour en savoir plus : {link}"));
        lines
            .iter()
            .map(|l| crate::render::typography::french(l))
            .collect()
    }
}
