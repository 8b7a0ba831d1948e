//! Bases outside the ray family: the steps' user, pip and conda come from `envc.toml`'s
//! `[[image]]` facts, and a spec that needs a fact nobody stated is refused at its first entry
//! (never built with the ray image's user and paths, as envc once did).

mod common;

use common::{envc_run, write_spec, TempDir};

const ALLOW_UBUNTU: &str = "[base-image]\nallow = [\"ubuntu\", \"nvidia/*\"]\n";

const UBUNTU_FACTS: &str = "[[image]]\nmatch = \"ubuntu\"\nuser = \"root\"\nuid = 0\ngid = 0\nhome = \"/root\"\npip = \"/usr/bin/pip3\"\n";

#[test]
fn packages_on_a_base_without_facts_are_refused_where_they_are() {
    let t = TempDir::new("facts-missing");
    write_spec(t.path(), "envc.toml", ALLOW_UBUNTU);
    let spec = write_spec(t.path(),
        "env.yaml",
        "base_image: ubuntu:22.04\ndebian_packages:\n  - vim\npython:\n  pip_packages:\n    - torch\n  conda_packages:\n    - numpy\npost_build_cmds:\n  - ls\n",
    );
    let r = envc_run(["dockerfile".as_ref(), spec.as_os_str()]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no Dockerfile with guessed facts");
    let name = spec.display();
    for (line, col, what) in [
        (3, 5, "Debian packages"),
        (6, 7, "pip packages"),
        (8, 7, "conda packages"),
        (10, 5, "post-build commands"),
    ] {
        let head = format!("{name}:{line}:{col}: error[E045]: envc does not know the user of `ubuntu:22.04`: {what}");
        assert!(
            r.stderr.contains(&head),
            "missing `{head}` in\n{}",
            r.stderr
        );
    }
    assert!(
        r.stderr
            .contains("add `[[image]]` to envc.toml with `match = \"ubuntu\"`"),
        "{}",
        r.stderr
    );
}

#[test]
fn stated_facts_give_the_user_and_pip_of_the_image() {
    let t = TempDir::new("facts-stated");
    write_spec(
        t.path(),
        "envc.toml",
        &format!("{ALLOW_UBUNTU}{UBUNTU_FACTS}"),
    );
    let spec = write_spec(t.path(),
        "env.yaml",
        "base_image: ubuntu:22.04\ndebian_packages:\n  - python3-pip\npython:\n  pip_packages:\n    - torch\npost_build_cmds:\n  - ls\n",
    );
    let r = envc_run(["dockerfile".as_ref(), spec.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let df = &r.stdout;
    assert!(
        df.contains("RUN /usr/bin/pip3 install --no-cache-dir --"),
        "{df}"
    );
    assert!(!df.contains("/home/ray") && !df.contains("1000"), "{df}");
    // Root throughout: one `USER root`, and no switch back to a user the image does not have.
    assert_eq!(df.matches("USER ").count(), 1, "{df}");
    assert!(df.contains("USER root\n"), "{df}");

    // The facts are part of the plan, so a change to them changes the spec digest.
    let plan = envc_run(["plan".as_ref(), spec.as_os_str()]);
    assert!(
        plan.stdout.contains(
            r#""image":{"gid":0,"home":"/root","pip":"/usr/bin/pip3","uid":0,"user":"root"}"#
        ),
        "{}",
        plan.stdout
    );

    // Conda packages need a conda prefix the facts do not give.
    let conda = write_spec(
        t.path(),
        "conda.yaml",
        "base_image: ubuntu:22.04\npython:\n  conda_packages:\n    - numpy\n",
    );
    let r = envc_run(["check".as_ref(), conda.as_os_str()]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "{}:4:7: error[E045]: the `[[image]]` facts for `ubuntu:22.04` name no conda installation",
            conda.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("add `conda-prefix"), "{}", r.stderr);
}

#[test]
fn a_non_root_user_is_restored_after_the_apt_step() {
    let t = TempDir::new("facts-user");
    write_spec(t.path(),
        "envc.toml",
        &format!("{ALLOW_UBUNTU}[[image]]\nmatch = \"nvidia/*\"\nuser = \"app\"\nuid = 1234\ngid = 1234\nhome = \"/home/app\"\nconda-prefix = \"/opt/conda\"\n"),
    );
    let spec = write_spec(t.path(),
        "env.yaml",
        "base_image: nvidia/cuda:12.2.0-base-ubuntu22.04\ndebian_packages:\n  - vim\npython:\n  conda_packages:\n    - numpy\n  pip_packages:\n    - torch\n",
    );
    let r = envc_run(["dockerfile".as_ref(), spec.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let df = &r.stdout;
    assert!(df.contains("USER root\n"), "{df}");
    assert!(
        df.contains("USER 1234\nRUN /opt/conda/bin/conda install"),
        "{df}"
    );
    assert!(df.contains("RUN /opt/conda/bin/pip install"), "{df}");
    assert!(
        df.trim_end().ends_with("USER 1234") || df.contains("USER 1234\n"),
        "{df}"
    );
}

#[test]
fn env_only_specs_need_no_facts_and_ray_images_keep_theirs() {
    let t = TempDir::new("facts-env");
    write_spec(
        t.path(),
        "envc.toml",
        "[base-image]\nallow = [\"ubuntu\", \"rayproject/*\"]\n",
    );
    let env_only = write_spec(
        t.path(),
        "env.yaml",
        "base_image: ubuntu:22.04\nenv_vars:\n  A: \"1\"\n",
    );
    let r = envc_run(["plan".as_ref(), env_only.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains(r#""image":null"#), "{}", r.stdout);
    let df = envc_run(["dockerfile".as_ref(), env_only.as_os_str()]);
    assert!(!df.stdout.contains("USER"), "{}", df.stdout);

    // rayproject's images are built from the same Dockerfiles as Anyscale's.
    let ray = write_spec(
        t.path(),
        "ray.yaml",
        "base_image: rayproject/ray:2.9.0-py310\npython:\n  pip_packages:\n    - torch\n",
    );
    let r = envc_run(["dockerfile".as_ref(), ray.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("USER 1000\nRUN /home/ray/anaconda3/bin/pip install"),
        "{}",
        r.stdout
    );
}
