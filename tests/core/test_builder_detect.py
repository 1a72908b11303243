from oci_attest.collect.builder import detect_ci


def test_github_actions_hosted():
    facts = detect_ci({
        "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "3",
        "RUNNER_ENVIRONMENT": "github-hosted", "GITHUB_REF": "refs/tags/v1.2.0",
        "GITHUB_SHA": "c" * 40, "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/r.yml@refs/tags/v1.2.0",
        "GITHUB_TOKEN": "ghs_secret", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "also-secret",
    })
    assert facts.platform == "github-actions"
    assert facts.builder_id == "https://github.com/actions/runner/github-hosted"
    assert facts.invocation_id == "https://github.com/acme/app/actions/runs/42/attempts/3"
    assert facts.runner_environment == "github-hosted"
    assert facts.tag == "v1.2.0"
    assert facts.repository_url == "https://github.com/acme/app"
    assert "ghs_secret" not in repr(facts) and "also-secret" not in repr(facts)


def test_github_self_hosted():
    facts = detect_ci({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "a/b", "GITHUB_RUN_ID": "1",
                       "RUNNER_ENVIRONMENT": "self-hosted"})
    assert facts.builder_id.endswith("/self-hosted")


def test_gitlab_ci():
    facts = detect_ci({
        "GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.example.test",
        "CI_PROJECT_PATH": "grp/app", "CI_RUNNER_ID": "7",
        "CI_JOB_URL": "https://gitlab.example.test/grp/app/-/jobs/99",
        "CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": "d" * 40, "CI_JOB_TOKEN": "secret",
        "SIGSTORE_ID_TOKEN": "secret-jwt",
    })
    assert facts.platform == "gitlab-ci"
    assert facts.builder_id == "https://gitlab.example.test/grp/app/-/runners/7"
    assert facts.invocation_id == "https://gitlab.example.test/grp/app/-/jobs/99"
    assert facts.ref == "refs/heads/main"
    assert facts.runner_environment == "self-hosted"
    assert "secret" not in repr(facts)


def test_buildkite_circleci_jenkins_tekton():
    assert detect_ci({"BUILDKITE": "true", "BUILDKITE_ORGANIZATION_SLUG": "o",
                      "BUILDKITE_PIPELINE_SLUG": "p", "BUILDKITE_BUILD_URL": "https://bk/b/1",
                      "BUILDKITE_JOB_ID": "j"}).invocation_id == "https://bk/b/1#j"
    assert detect_ci({"CIRCLECI": "true", "CIRCLE_BUILD_URL": "https://c/1"}).platform == \
        "circleci"
    jenkins = detect_ci({"JENKINS_URL": "https://ci.example.test/",
                         "JOB_URL": "https://ci.example.test/job/app/",
                         "BUILD_URL": "https://ci.example.test/job/app/5/",
                         "GIT_BRANCH": "origin/main"})
    assert (jenkins.builder_id, jenkins.ref) == ("https://ci.example.test/job/app",
                                                 "refs/heads/main")
    tekton = detect_ci({"TEKTON_PIPELINE_RUN": "build-x", "TEKTON_NAMESPACE": "ci"})
    assert tekton.platform == "tekton" and tekton.invocation_id.endswith("/pipelineruns/build-x")


def test_local_and_override():
    assert detect_ci({}).platform == "local"
    assert detect_ci({"ATTEST_BUILDER_ID": "https://builders.example.test/x"}).builder_id == \
        "https://builders.example.test/x"
