//! Notices and consent forms: what they say per legal basis, art. 14 sources, gaps of the
//! register, PDF text and size, hostile register text, versions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use registre::model::{Organisation, Register};
use registre::notice::{self, Context, Notice};
use registre::render::{Style, Templates};

const DEMO: &str = include_str!("../examples/commune-demo.yaml");
const HOSTILE: &str = include_str!("notice/hostile.yaml");

fn context(register: &Register) -> Context<'_> {
    Context {
        vocabulary: &common::pack().vocabulary,
        countries: &common::pack().countries,
        register,
        public_url: Some("https://registre.example.fr"),
    }
}

fn organisation<'r>(register: &'r Register, id: &str) -> &'r Organisation {
    register.organisations.iter().find(|o| o.id == id).unwrap()
}

fn notice_of(register: &Register, org: &str, activity: &str) -> Notice {
    let organisation = organisation(register, org);
    let activity = organisation
        .activities()
        .iter()
        .find(|a| a.id == activity)
        .unwrap();
    notice::notice(&context(register), organisation, activity).unwrap()
}

/// The text of escaped HTML, for comparing sentences.
fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One organisation, one activity per legal basis, every field a notice needs.
fn one_activity_per_basis() -> Register {
    let mut yaml = String::from(
        "format: registre/v1\norganisations:\n- id: ville\n  name: Commune de Ville\n  kind: commune\n  email: mairie@ville.fr\n  address: 1 place de la Mairie, 60000 Ville\n  dpo: {name: DPO mutualisé, email: dpo@ville.fr}\n  activities:\n",
    );
    for basis in [
        "consentement",
        "contrat",
        "obligation-legale",
        "interets-vitaux",
        "mission-interet-public",
        "interet-legitime",
    ] {
        yaml.push_str(&format!(
            "  - id: {basis}\n    name: Traitement {basis}\n    purposes: [communication.information-municipale]\n    legal_basis: {basis}\n    legal_basis_text: Texte {basis}\n    data_subjects: [administres]\n    data_categories: [identite, coordonnees]\n    sources: [person]\n    recipients: []\n    transfers: []\n    retention: {{active: P1Y, final: destruction}}\n    automated_decision: false\n    consent: {{granular: true, pre_ticked: false, bundled: false, withdrawal: [en-ligne], records_kept: true}}\n"
        ));
    }
    common::load(&yaml)
}

/// LEGAL.md §2, written out as the notice must say it: for each basis, the rights it lists
/// and those it must not.
#[test]
fn each_legal_basis_lists_exactly_the_rights_that_hold() {
    const ACCESS: &str = "Droit d'accès";
    const RECTIFICATION: &str = "Droit de rectification";
    const ERASURE: &str = "Droit à l'effacement";
    const RESTRICTION: &str = "Droit à la limitation";
    const OBJECTION: &str = "Droit d'opposition";
    const PORTABILITY: &str = "Droit à la portabilité";
    const WITHDRAWAL: &str = "Droit de retirer votre consentement";
    const ALL: [&str; 7] = [
        ACCESS,
        RECTIFICATION,
        ERASURE,
        RESTRICTION,
        OBJECTION,
        PORTABILITY,
        WITHDRAWAL,
    ];
    let table: [(&str, &[&str]); 6] = [
        (
            "consentement",
            &[
                ACCESS,
                RECTIFICATION,
                ERASURE,
                RESTRICTION,
                PORTABILITY,
                WITHDRAWAL,
            ],
        ),
        (
            "contrat",
            &[ACCESS, RECTIFICATION, ERASURE, RESTRICTION, PORTABILITY],
        ),
        (
            "obligation-legale",
            &[ACCESS, RECTIFICATION, ERASURE, RESTRICTION],
        ),
        (
            "interets-vitaux",
            &[ACCESS, RECTIFICATION, ERASURE, RESTRICTION],
        ),
        (
            "mission-interet-public",
            &[ACCESS, RECTIFICATION, ERASURE, RESTRICTION, OBJECTION],
        ),
        (
            "interet-legitime",
            &[ACCESS, RECTIFICATION, ERASURE, RESTRICTION, OBJECTION],
        ),
    ];
    let register = one_activity_per_basis();
    let templates = Templates::builtin().unwrap();
    for (basis, holds) in table {
        let notice = notice_of(&register, "ville", basis);
        assert!(notice.missing.is_empty(), "{basis}: {:?}", notice.missing);
        let html = templates
            .document("notice/notice", &notice, Style::Linked)
            .unwrap();
        let pdf = common::pdf_text(&notice.pdf().unwrap());
        let html = common::fold(&unescape(&html));
        for (format, text) in [
            ("text", common::fold(&notice.text())),
            ("html", html),
            ("pdf", pdf),
        ] {
            for right in ALL {
                assert_eq!(
                    text.contains(right),
                    holds.contains(&right),
                    "{basis} ({format}): {right}"
                );
            }
            // Always: the CNIL, post-mortem directives, the one-month answer.
            for always in ["réclamation à la CNIL", "art. 85", "délai d'un mois"] {
                assert!(text.contains(always), "{basis} ({format}): {always}");
            }
        }
    }
    // Conditions that change what a person may ask.
    let public_task = notice_of(&register, "ville", "mission-interet-public").text();
    assert!(public_task.contains("sauf motifs impérieux"));
    let obligation = notice_of(&register, "ville", "obligation-legale").text();
    assert!(obligation.contains("une fois l'obligation légale éteinte"));
}

#[test]
fn an_art_14_notice_names_the_source_organisation_and_its_nature() {
    let register = common::load(DEMO);
    // The CCAS takes the commune's electoral list: another controller's file.
    let colis = notice_of(&register, "ccas-saint-aubin", "colis-aines");
    assert_eq!(colis.articles, "14");
    let origin = colis.sections.iter().find(|s| s.id == "origine").unwrap();
    let items: Vec<_> = origin
        .blocks
        .iter()
        .flat_map(|b| b.list.iter().flatten())
        .collect();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].term.as_deref(),
        Some("Commune de Saint-Aubin-sur-Oise")
    );
    assert!(
        items[0].text.contains("Gestion de la liste électorale"),
        "{}",
        items[0].text
    );
    assert!(items[0].text.contains("coordonnées"), "{}", items[0].text);
    // An outside body, and data collected from the person too: both articles.
    let civil = notice_of(&register, "saint-aubin", "etat-civil");
    assert_eq!(civil.articles, "13 et 14");
    let text = common::fold(&civil.text());
    assert!(text.contains("Établissements de santé"), "{text}");
    assert!(text.contains("organisme extérieur"), "{text}");
    assert!(text.contains("Code civil, art. 49, 55 et 78"), "{text}");
    // Collected from the person only: no origin section.
    let canteen = notice_of(&register, "saint-aubin", "cantine");
    assert_eq!(canteen.articles, "13");
    assert!(canteen.sections.iter().all(|s| s.id != "origine"));
}

#[test]
fn register_gaps_are_reported_not_left_out() {
    let register = common::load(
        "format: registre/v1\norganisations:\n- id: ville\n  name: Commune de Ville\n  kind: commune\n  activities:\n  - id: vide\n    name: Fiche à compléter\n",
    );
    let notice = notice_of(&register, "ville", "vide");
    let fields: Vec<&str> = notice.missing.iter().map(|m| m.field.as_str()).collect();
    for expected in [
        "organisation.address",
        "dpo",
        "activities[vide].purposes",
        "activities[vide].legal_basis",
        "activities[vide].data_categories",
        "activities[vide].recipients",
        "activities[vide].transfers",
        "activities[vide].retention.active",
        "activities[vide].automated_decision",
    ] {
        assert!(fields.contains(&expected), "{expected} not in {fields:?}");
    }
    // Each gap is said where the information belongs, in every format.
    let text = notice.text();
    assert_eq!(
        text.matches("Information non renseignée dans le registre")
            .count(),
        notice.missing.len(),
        "{text}"
    );
    let html = Templates::builtin()
        .unwrap()
        .document("notice/notice", &notice, Style::Linked)
        .unwrap();
    assert_eq!(
        html.matches("class=\"missing\"").count(),
        notice.missing.len()
    );
    // The CLI warns on stderr and, with --strict, fails.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vide.yaml");
    std::fs::write(&file, registre::model::to_yaml(&register)).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "notice",
        "--register",
        file,
        "--organisation",
        "ville",
        "--activity",
        "vide",
        "--format",
        "text",
    ];
    let lenient = common::registre(&args);
    assert!(lenient.status.success(), "{}", common::stderr(&lenient));
    assert!(common::stderr(&lenient).contains("activities[vide].retention.active"));
    let strict = common::registre(&[&args[..], &["--strict"]].concat());
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn pdfs_read_back_with_their_accents_and_stay_small() {
    let register = common::load(DEMO);
    let mut checked = 0;
    for organisation in &register.organisations {
        for activity in organisation.activities() {
            let notice = notice_of(&register, &organisation.id, &activity.id);
            let pdf = notice.pdf().unwrap();
            assert!(pdf.len() < 100_000, "{}: {} bytes", activity.id, pdf.len());
            let text = common::pdf_text(&pdf);
            let title = common::fold(&notice.title);
            for sentence in [
                title.as_str(),
                "Qui traite vos données ?",
                "Combien de temps vos données sont-elles conservées ?",
                "Quels sont vos droits ?",
                "Droit d'accès (art. 15)",
                "adresser une réclamation à la CNIL",
                "Délégué à la protection des données",
                "Page 1 sur",
            ] {
                assert!(
                    text.contains(sentence),
                    "{}: « {sentence} » not in {text}",
                    activity.id
                );
            }
            assert!(pdf.windows(12).any(|w| w == b"/Lang(fr-FR)"), "no language");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
    // The consent form too, with its boxes' labels.
    let saint_aubin = organisation(&register, "saint-aubin");
    let photos = saint_aubin
        .activities()
        .iter()
        .find(|a| a.id == "photos")
        .unwrap();
    let form = notice::consent_form(&context(&register), saint_aubin, photos).unwrap();
    let pdf = form.pdf().unwrap();
    assert!(pdf.len() < 100_000);
    let text = common::pdf_text(&pdf);
    for sentence in [
        "Formulaire de consentement",
        "J'accepte : Bulletin municipal imprimé",
        "J'accepte : Site internet de la commune",
        "Premier titulaire de l'autorité parentale",
        "Second titulaire de l'autorité parentale",
        "Nom et prénom de l'enfant",
        "Vous pouvez retirer votre consentement à tout moment",
    ] {
        assert!(text.contains(sentence), "« {sentence} » not in {text}");
    }
}

#[test]
fn hostile_register_text_is_escaped_in_html_and_laid_out_in_pdf() {
    let register = common::load(HOSTILE);
    let templates = Templates::builtin().unwrap();
    let org = organisation(&register, "hostile");
    for activity in org.activities() {
        let notice = notice_of(&register, "hostile", &activity.id);
        let html = templates
            .document("notice/notice", &notice, Style::Linked)
            .unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        // Handlebars syntax in the register is text, never a template.
        assert!(html.contains("{{#each this}}"), "{html}");
        let pdf = notice.pdf().unwrap();
        assert!(pdf.len() < 100_000, "{} bytes", pdf.len());
        // Every word stays inside the page.
        for (page, x_max, y_max) in common::pdf_word_extents(&pdf) {
            assert!(
                x_max <= 595.28 - 50.0 && y_max <= 841.89,
                "page {page}: a word reaches x = {x_max}, y = {y_max}"
            );
        }
        let text = common::pdf_text(&pdf);
        assert!(text.contains("<script>alert(\"x\")</script>"), "{text}");
    }
    let privacy = notice::privacy_page(&context(&register), org);
    let html = templates
        .document("notice/privacy", &privacy, Style::Linked)
        .unwrap();
    assert!(!html.contains("<script") && html.contains("&lt;script&gt;"));
}

#[test]
fn versions_change_only_when_the_content_shown_changes() {
    let register = common::load(DEMO);
    let first = notice_of(&register, "saint-aubin", "cantine");
    let again = notice_of(&register, "saint-aubin", "cantine");
    assert_eq!(first.version, again.version);
    assert_eq!(first.version.sha256.len(), 64);
    assert!(first.version.sha256.starts_with(&first.version.id));
    // The same document gives the same bytes.
    assert_eq!(first.pdf().unwrap(), again.pdf().unwrap());

    let edit = |change: &dyn Fn(&mut registre::model::Activity)| {
        let mut register = common::load(DEMO);
        let org = register
            .organisations
            .iter_mut()
            .find(|o| o.id == "saint-aubin")
            .unwrap();
        let activity = org
            .activities
            .as_mut()
            .unwrap()
            .iter_mut()
            .find(|a| a.id == "cantine")
            .unwrap();
        change(activity);
        notice_of(&register, "saint-aubin", "cantine").version
    };
    // Fields a notice does not show: same version.
    assert_eq!(
        edit(&|a| a.security_measures = Some(vec!["chiffrement".into()])),
        first.version
    );
    assert_eq!(edit(&|a| a.dpia = None), first.version);
    // Fields it shows: a new version.
    assert_ne!(
        edit(&|a| a.retention.as_mut().unwrap().active = Some(registre::model::Period::new("P2Y"))),
        first.version
    );
    assert_ne!(
        edit(&|a| a.recipients.as_mut().unwrap().pop().map(drop).unwrap_or(())),
        first.version
    );
}

#[test]
fn consent_forms_offer_one_unticked_choice_per_purpose_and_medium() {
    let register = common::load(DEMO);
    let saint_aubin = organisation(&register, "saint-aubin");
    let templates = Templates::builtin().unwrap();
    let form_of = |id: &str| {
        let activity = saint_aubin
            .activities()
            .iter()
            .find(|a| a.id == id)
            .unwrap();
        notice::consent_form(&context(&register), saint_aubin, activity)
    };
    let photos = form_of("photos").unwrap();
    // One choice per medium the photos are published in.
    let ids: Vec<&str> = photos.choice_ids().collect();
    assert_eq!(
        ids,
        [
            "communication.publication-images:bulletin-municipal-imprime",
            "communication.publication-images:site-internet-de-la-commune"
        ]
    );
    let html = templates
        .document("notice/consent-form", &photos, Style::Linked)
        .unwrap();
    assert_eq!(html.matches("type=\"checkbox\"").count(), 2);
    assert!(!html.contains("checked"));
    // Minors: both holders of parental authority, and the child's identity.
    assert_eq!(photos.signatories.len(), 3);
    // A child's image: the holders' written authorisation, both for online publication.
    let minors = common::fold(photos.minors.as_deref().unwrap());
    assert!(minors.contains("Code civil, art. 9"), "{minors}");
    assert_eq!(photos.child_fields.len(), 2);
    // The form points to the notice version it summarises.
    let notice = notice_of(&register, "saint-aubin", "photos");
    assert_eq!(photos.notice_version, notice.version);
    // The newsletter: adults, one signature, one choice.
    let newsletter = form_of("lettre-information").unwrap();
    assert_eq!(newsletter.signatories, ["La personne concernée"]);
    assert!(newsletter.child_fields.is_empty());
    assert_eq!(newsletter.choice_ids().count(), 1);
    // No consent form for a public task.
    assert!(form_of("cantine").is_err());
    let refused = common::registre(&[
        "consent-form",
        "--register",
        "examples/commune-demo.yaml",
        "--organisation",
        "saint-aubin",
        "--activity",
        "cantine",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(common::stderr(&refused).contains("consentement"));
}

#[test]
fn the_mention_is_short_and_points_to_the_full_notice() {
    let register = common::load(DEMO);
    let notice = notice_of(&register, "saint-aubin", "cantine");
    assert!(notice.mention.len() <= 7, "{:?}", notice.mention);
    let last = notice.mention.last().unwrap();
    assert!(
        last.ends_with("https://registre.example.fr/o/saint-aubin/traitements/cantine"),
        "{last}"
    );
    let text = notice.mention_text();
    assert!(text.contains("Commune de Saint-Aubin-sur-Oise"));
    assert!(text.contains("dpo@opsn-oise.fr"));
    assert!(text.contains("1 an"));
    // A processor's activity has no notice of its own.
    let processor = common::load(
        "format: registre/v1\norganisations:\n- id: opsn\n  name: OPSN\n  kind: syndicat\n  activities:\n  - id: heberge\n    name: Hébergement\n    role: processor\n    on_behalf_of: {name: Commune cliente}\n",
    );
    let org = organisation(&processor, "opsn");
    let error = notice::notice(&context(&processor), org, &org.activities()[0]).unwrap_err();
    assert!(error.to_string().contains("Commune cliente"));
}

#[test]
fn documents_printed_from_the_database_keep_their_version() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let imported = common::registre(&[
        "import",
        "examples/commune-demo.yaml",
        "--database",
        &database,
    ]);
    assert!(imported.status.success(), "{}", common::stderr(&imported));
    // The photo consent form, printed from the database.
    let print = |extra: &[&str]| {
        let base = [
            "consent-form",
            "--database",
            &database,
            "--organisation",
            "saint-aubin",
            "--activity",
            "photos",
        ];
        let printed = common::registre(&[&base[..], extra].concat());
        assert!(printed.status.success(), "{}", common::stderr(&printed));
    };
    let pdf = dir.path().join("photos.pdf");
    print(&["--format", "pdf", "--output", pdf.to_str().unwrap()]);
    let bytes = std::fs::read(&pdf).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = || {
        runtime.block_on(async {
            let store = registre::store::Store::open(&database, None).await.unwrap();
            store.document_versions("saint-aubin").await.unwrap()
        })
    };
    let versions = stored();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].kind, "consent-form");
    assert_eq!(versions[0].activity.as_deref(), Some("photos"));
    assert_eq!(
        versions[0].renderings,
        [registre::store::Rendering {
            format: "pdf".into(),
            sha256: registre::digest::sha256_hex(&bytes)
        }]
    );
    // The version printed on the paper is the stored one.
    assert!(common::pdf_text(&bytes).contains(&versions[0].version));
    // Printed again as text: the same version, its first date kept, one more file.
    print(&["--format", "text"]);
    let after = stored();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].first_seen, versions[0].first_seen);
    let formats: Vec<&str> = after[0]
        .renderings
        .iter()
        .map(|r| r.format.as_str())
        .collect();
    assert_eq!(formats, ["pdf", "text"]);
}

/// One consent-based activity concerning `subjects`, with `categories` and `consent` settings.
fn consent_activity(subjects: &str, categories: &str, consent: &str) -> Register {
    common::load(&format!(
        "format: registre/v1\norganisations:\n- id: ville\n  name: Commune de Ville\n  kind: commune\n  email: mairie@ville.fr\n  dpo: {{name: DPO mutualisé, email: dpo@ville.fr}}\n  activities:\n  - id: accord\n    name: Accord\n    purposes: [communication.information-municipale]\n    legal_basis: consentement\n    data_subjects: [{subjects}]\n    data_categories: [{categories}]\n    sources: [person]\n    recipients: []\n    transfers: []\n    retention: {{active: P1Y}}\n    automated_decision: false\n    consent: {consent}\n"
    ))
}

#[test]
fn consent_forms_say_who_signs_how_long_and_what_refusing_costs() {
    let form = |register: &Register| {
        let org = organisation(register, "ville");
        notice::consent_form(&context(register), org, &org.activities()[0]).unwrap()
    };
    // A newsletter for teenagers: LIL art. 45, the holders the register asks for.
    let teens = form(&consent_activity(
        "eleves",
        "identite, coordonnees",
        "{withdrawal: [en-ligne], parental_consent: one-holder, bundled: false, renewal: P1Y}",
    ));
    let minors = common::fold(teens.minors.as_deref().unwrap());
    assert!(minors.contains("art. 45"), "{minors}");
    assert_eq!(
        teens.signatories,
        [
            "Titulaire de l'autorité parentale",
            "L'enfant, s'il est en âge de signer"
        ]
    );
    let intro = common::fold(&teens.intro);
    assert!(
        intro.contains("sans aucune conséquence pour vous"),
        "{intro}"
    );
    assert!(intro.contains("Votre accord est valable 1 an"), "{intro}");
    // The register does not say who consents for a child, nor whether consent is a condition
    // of a service: the form still asks both parents, and promises nothing.
    let unsaid = form(&consent_activity(
        "enfants",
        "images",
        "{withdrawal: [guichet]}",
    ));
    assert_eq!(unsaid.signatories.len(), 3);
    assert!(
        unsaid
            .missing
            .iter()
            .any(|m| m.field == "activities[accord].consent.parental_consent")
    );
    assert!(!unsaid.intro.contains("conséquence"), "{}", unsaid.intro);
    assert!(!unsaid.intro.contains("valable"), "{}", unsaid.intro);
    // Consent forever is not a renewal period.
    let forever = form(&consent_activity(
        "administres",
        "identite",
        "{withdrawal: [guichet], renewal: permanent}",
    ));
    assert!(!forever.intro.contains("valable"), "{}", forever.intro);
}

#[test]
fn sensitive_data_under_explicit_consent_are_optional_on_any_basis() {
    let register = common::load(
        "format: registre/v1\norganisations:\n- id: ville\n  name: Commune de Ville\n  kind: commune\n  email: mairie@ville.fr\n  dpo: {name: DPO mutualisé, email: dpo@ville.fr}\n  activities:\n  - id: cantine\n    name: Cantine\n    purposes: [education.restauration-scolaire]\n    legal_basis: mission-interet-public\n    legal_basis_text: Code de l'éducation, art. L.131-13\n    special_category_exception: consentement-explicite\n    data_subjects: [enfants, parents]\n    data_categories: [identite, sante.allergies]\n    sources: [person]\n    recipients: []\n    transfers: []\n    retention: {active: P1Y}\n    automated_decision: false\n    consent: {withdrawal: [guichet], parental_consent: both-holders}\n",
    );
    let notice = notice_of(&register, "ville", "cantine");
    let text = common::fold(&notice.text());
    assert!(
        text.contains(
            "État civil, identité (nom, prénoms, date et lieu de naissance) : obligatoire"
        ),
        "{text}"
    );
    assert!(
        text.contains("Allergies, projet d'accueil individualisé : facultatif"),
        "{text}"
    );
    assert!(
        text.contains("qu'avec votre consentement explicite"),
        "{text}"
    );
    // Withdrawal under explicit consent; never portability under a public task.
    assert!(
        text.contains("Droit de retirer votre consentement"),
        "{text}"
    );
    assert!(!text.contains("portabilité"), "{text}");
    // Requests go to the DPO, in correct French.
    assert!(
        text.contains("adressez-vous au délégué à la protection des données de Commune de Ville"),
        "{text}"
    );
}
